//! keel's JVM engine: the native half of `dev.keel.spark.KeelArrow` (jvm/java).
//!
//! `KeelModel(engine="jvm")` scores a DataFrame without any Python worker: each executor JVM
//! turns a partition's rows into Arrow IPC record-batch messages with Spark's own converters,
//! hands each message to [`codec::Scorer`] through the three functions below, and reads the
//! answer back into rows. A bundle is loaded once per executor JVM (the Java side caches the
//! handle per bundle digest) and shared by its task threads.
//!
//! JNI rules kept here: no Rust panic crosses into the JVM (each entry point catches it and
//! throws `dev.keel.spark.KeelException`), every error is thrown as that exception with
//! keel's message after its code in brackets (`[unknown_category] row 7, ...`; see
//! [`codec::JvmError::code`]), and a handle is a `Box<Scorer>` turned into a `long`, freed only by
//! `close`.

// The exported `Java_*` symbols need `#[unsafe(no_mangle)]`, and a handle travels through Java
// as a raw pointer; each use is annotated where it happens.
#![allow(unsafe_code)]

pub mod codec;

use std::panic::{AssertUnwindSafe, catch_unwind};

use jni::JNIEnv;
use jni::objects::{JByteArray, JClass, JLongArray, JString};
use jni::sys::{jbyteArray, jlong};

use crate::codec::{Scorer, exception_message};

const EXCEPTION: &str = "dev/keel/spark/KeelException";

/// The code of a failure of the JNI calls themselves (reading Java's arguments, writing the
/// answer, a closed handle), as opposed to keel's errors.
const JNI: &str = "jvm_jni";

fn jni_error(e: impl std::fmt::Display) -> String {
    exception_message(JNI, e)
}

fn throw(env: &mut JNIEnv, message: &str) {
    // A pending exception (e.g. an OutOfMemoryError from a JNI call) already says what failed.
    if !env.exception_check().unwrap_or(true) {
        let _ = env.throw_new(EXCEPTION, message);
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    let what = p
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    exception_message(
        "internal",
        format!("keel JVM engine: internal error (a bug in keel, please report it): {what}"),
    )
}

/// `static native long open(byte[] bundle, byte[] schemaMessage, String spec)`: loads a bundle
/// for frames of the given Arrow schema; returns the handle.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_keel_spark_Native_open<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    bundle: JByteArray<'l>,
    schema: JByteArray<'l>,
    spec: JString<'l>,
) -> jlong {
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<Scorer, String> {
        let bundle = env.convert_byte_array(&bundle).map_err(jni_error)?;
        let schema = env.convert_byte_array(&schema).map_err(jni_error)?;
        let spec: String = env.get_string(&spec).map_err(jni_error)?.into();
        Scorer::new(&bundle, &schema, &spec).map_err(|e| e.exception_message())
    }));
    match result {
        Ok(Ok(scorer)) => Box::into_raw(Box::new(scorer)) as jlong,
        Ok(Err(message)) => {
            throw(&mut env, &message);
            0
        }
        Err(p) => {
            throw(&mut env, &panic_message(p.as_ref()));
            0
        }
    }
}

/// `static native byte[] score(long handle, byte[] batch, long partitionOffset, long[] rows)`:
/// scores one record-batch message; `rows[0]` receives the batch's row count, and error rows
/// are counted from `partitionOffset`.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_keel_spark_Native_score<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
    batch: JByteArray<'l>,
    offset: jlong,
    rows: JLongArray<'l>,
) -> jbyteArray {
    if handle == 0 {
        throw(
            &mut env,
            &jni_error("keel JVM engine: scoring with a closed bundle handle"),
        );
        return std::ptr::null_mut();
    }
    // SAFETY: a non-zero handle comes from `open` (Box::into_raw) and the Java side calls
    // `close` only once no task uses it; `Scorer` is Sync, so concurrent tasks may share it.
    let scorer: &Scorer = unsafe { &*(handle as *const Scorer) };
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<(Vec<u8>, usize), String> {
        let message = env.convert_byte_array(&batch).map_err(jni_error)?;
        let start = usize::try_from(offset).unwrap_or(0);
        scorer
            .score_message(message)
            .map_err(|e| e.offset_rows(start).exception_message())
    }));
    let answer = match result {
        Ok(Ok(answer)) => answer,
        Ok(Err(message)) => {
            throw(&mut env, &message);
            return std::ptr::null_mut();
        }
        Err(p) => {
            throw(&mut env, &panic_message(p.as_ref()));
            return std::ptr::null_mut();
        }
    };
    let (bytes, n) = answer;
    if env.set_long_array_region(&rows, 0, &[n as jlong]).is_err() {
        throw(
            &mut env,
            &jni_error("keel JVM engine: cannot report the row count"),
        );
        return std::ptr::null_mut();
    }
    match env.byte_array_from_slice(&bytes) {
        Ok(array) => array.into_raw(),
        Err(e) => {
            throw(
                &mut env,
                &jni_error(format!("keel JVM engine: cannot return the answer: {e}")),
            );
            std::ptr::null_mut()
        }
    }
}

/// `static native void close(long handle)`: frees a handle from `open`.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_keel_spark_Native_close<'l>(
    _env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) {
    if handle != 0 {
        // SAFETY: the handle came from `open`, and Java clears it before calling `close` once.
        drop(unsafe { Box::from_raw(handle as *mut Scorer) });
    }
}
