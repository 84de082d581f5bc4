//! Spark ML's text stages: tokenizers, stop-word removal, n-grams, and the stages that turn
//! tokens into features (term hashing, counting, word vectors). What they share has its own
//! module: token columns ([`tokens`]), Java's string and regex semantics ([`java`]) and
//! Spark's feature hash ([`hash`]).

pub(crate) mod count_vectorizer;
pub(crate) mod hash;
pub(crate) mod hashing_tf;
pub(crate) mod java;
pub(crate) mod ngram;
pub(crate) mod regex_tokenizer;
pub(crate) mod stop_words_remover;
pub(crate) mod tokenizer;
pub(crate) mod tokens;
pub(crate) mod word2vec;
