//! Spark ML's text stages: tokenizers, stop-word removal, n-grams, and the stages that turn
//! tokens into features (term hashing, counting, word vectors). Token columns, Java's string
//! and regex semantics and Spark's feature hash are shared through [`tokens`].

pub(crate) mod count_vectorizer;
pub(crate) mod hashing_tf;
pub(crate) mod ngram;
pub(crate) mod regex_tokenizer;
pub(crate) mod stop_words_remover;
pub(crate) mod tokenizer;
pub(crate) mod tokens;
pub(crate) mod word2vec;
