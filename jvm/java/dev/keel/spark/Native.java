/*
 * keel's JVM engine: the native functions (jvm/src/lib.rs) and how their library is found.
 *
 * The shared library travels inside keel-spark.jar (jvm/build.sh puts it there), so
 * `spark.jars` alone ships it to every executor; the first use in a JVM extracts it to a
 * temporary file and loads it. KEEL_JVM_LIB (an environment variable or a system property)
 * names a library file to load instead, for development.
 */
package dev.keel.spark;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;

final class Native {
  private Native() {}

  static final String RESOURCE = "/dev/keel/spark/native/libkeel_jvm.so";

  static {
    String path = System.getProperty("KEEL_JVM_LIB", System.getenv("KEEL_JVM_LIB"));
    if (path != null && !path.isEmpty()) {
      System.load(path);
    } else {
      System.load(extract().getAbsolutePath());
    }
  }

  private static File extract() {
    try (InputStream in = Native.class.getResourceAsStream(RESOURCE)) {
      if (in == null) {
        throw new KeelException(
            "keel JVM engine: " + RESOURCE + " is not in the jar (built without jvm/build.sh?)");
      }
      File file = File.createTempFile("keel_jvm", ".so");
      file.deleteOnExit();
      Files.copy(in, file.toPath(), StandardCopyOption.REPLACE_EXISTING);
      return file;
    } catch (IOException e) {
      throw new KeelException("keel JVM engine: cannot extract the native library: " + e);
    }
  }

  /** Loads a bundle for frames of the given Arrow schema (an IPC schema message). */
  static native long open(byte[] bundle, byte[] schemaMessage, String spec);

  /**
   * Scores one Arrow IPC record-batch message; rows[0] receives its row count; error rows are
   * counted from partitionOffset.
   */
  static native byte[] score(long handle, byte[] batch, long partitionOffset, long[] rows);

  /** Frees a handle. */
  static native void close(long handle);
}
