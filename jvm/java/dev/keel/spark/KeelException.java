/*
 * keel's JVM engine: the exception every keel failure inside an executor is thrown as (the
 * native library throws it with keel's own message), so Spark shows that message in the
 * driver's exception, not a bare stack trace.
 */
package dev.keel.spark;

/** A keel scoring failure: a row the bundle refuses, a bundle that does not load. */
public class KeelException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public KeelException(String message) {
    super(message);
  }
}
