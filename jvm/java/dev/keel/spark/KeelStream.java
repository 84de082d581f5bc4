/*
 * keel's JVM engine on streaming DataFrames, and the executor side of the model-version
 * protocol of a running stream.
 *
 * KeelArrow.transform turns its frame into an RDD, which a streaming DataFrame refuses before
 * the query starts; here the same partition function (Spark's Arrow converters around the
 * native runtime) runs inside the query's own plan through Dataset.mapPartitions, with rows
 * converted to Spark's internal form and back around it (the price of the public Dataset API).
 *
 * With a version store (KeelModel's refreshInterval), each task scores with the version
 * recorded for its micro-batch. The protocol, and who may write what, is described in
 * exporters/keel/spark_runtime/_versions.py, which is the only writer of accepted versions;
 * this class reads the same files and makes a batch's record exactly as the Python engine does
 * (a whole file published with link(), which fails if a faster task made it first).
 */
package dev.keel.spark;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.catalyst.CatalystTypeConverters;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.classic.Dataset;
import org.apache.spark.sql.classic.SparkSession;
import org.apache.spark.sql.internal.SQLConf;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import scala.Function1;

/** Entry point of the JVM engine for streaming DataFrames. */
public final class KeelStream {
  private KeelStream() {}

  /** Spark's micro-batch execution sets these on every job of a micro-batch. */
  static final String QUERY_ID_PROPERTY = "sql.streaming.queryId";

  static final String BATCH_ID_PROPERTY = "streaming.sql.batchId";

  /** Batch records read in this JVM: they never change once made. */
  private static final ConcurrentHashMap<String, String[]> RECORDS = new ConcurrentHashMap<>();

  /**
   * The rows of `frame` followed by the bundle's outputs (and, if `versionCol` is set, the
   * scoring bundle's uid), as planned by the driver.
   *
   * @param frame the columns to keep first, then any input columns the driver converted
   * @param bundle the bytes of the bundle transform read (`sha`, manifest uid `uid`)
   * @param spec the scoring plan (JSON: keep, inputs, outputs, large_strings)
   * @param outSchemaJson the codec's output schema (StructType JSON), without `versionCol`
   * @param store the version store, or null: every batch scored by `sha`
   * @param plan the plan's folder in the store
   * @param versionCol the column receiving the uid, or null
   */
  public static Dataset<Row> transform(
      Dataset<Row> frame,
      byte[] bundle,
      String sha,
      String uid,
      String spec,
      String outSchemaJson,
      String store,
      String plan,
      String versionCol)
      throws IOException {
    SparkSession session = frame.sparkSession();
    SQLConf conf = session.sessionState().conf();
    String tz = conf.sessionLocalTimeZone();
    boolean large = conf.arrowUseLargeVarTypes();
    StructType inSchema = frame.schema();
    StructType outSchema = (StructType) DataType.fromJson(outSchemaJson);
    StructType rowSchema =
        versionCol == null ? outSchema : outSchema.add(versionCol, DataTypes.StringType, true);
    Score fn =
        new Score(
            KeelArrow.broadcast(session, sha, bundle),
            new String[] {sha, uid},
            spec,
            KeelArrow.schemaMessage(inSchema, tz, large),
            inSchema,
            outSchema,
            tz,
            large,
            conf.arrowMaxRecordsPerBatch(),
            store,
            plan,
            versionCol != null);
    return frame.mapPartitions(fn, Encoders.row(rowSchema));
  }

  /** The partition function shipped to executors. */
  static final class Score implements MapPartitionsFunction<Row, Row> {
    private static final long serialVersionUID = 1L;
    private final Broadcast<byte[]> source;
    private final String[] initial;
    private final String spec;
    private final byte[] schemaMessage;
    private final StructType inSchema;
    private final StructType outSchema;
    private final String tz;
    private final boolean large;
    private final int maxRecords;
    private final String store;
    private final String plan;
    private final boolean withVersion;

    Score(
        Broadcast<byte[]> source,
        String[] initial,
        String spec,
        byte[] schemaMessage,
        StructType inSchema,
        StructType outSchema,
        String tz,
        boolean large,
        int maxRecords,
        String store,
        String plan,
        boolean withVersion) {
      this.source = source;
      this.initial = initial;
      this.spec = spec;
      this.schemaMessage = schemaMessage;
      this.inSchema = inSchema;
      this.outSchema = outSchema;
      this.tz = tz;
      this.large = large;
      this.maxRecords = maxRecords;
      this.store = store;
      this.plan = plan;
      this.withVersion = withVersion;
    }

    @Override
    public Iterator<Row> call(Iterator<Row> input) throws IOException {
      TaskContext ctx = TaskContext.get();
      // Once per partition: every task of a micro-batch resolves the same version.
      String[] version = taskVersion(ctx, store, plan, initial);
      String sha = version[0];
      KeelArrow.BundleBytes bytes =
          sha.equals(initial[0]) ? source::value : () -> readStored(store, sha);
      long handle =
          KeelArrow.handle(
              KeelArrow.handleKey(sha, spec, schemaMessage), bytes, schemaMessage, spec, ctx);
      Function1<Object, Object> toInternal =
          CatalystTypeConverters.createToCatalystConverter(inSchema);
      Function1<Object, Object> toRow = CatalystTypeConverters.createToScalaConverter(outSchema);
      Iterator<InternalRow> rows =
          new Iterator<InternalRow>() {
            @Override
            public boolean hasNext() {
              return input.hasNext();
            }

            @Override
            public InternalRow next() {
              return (InternalRow) toInternal.apply(input.next());
            }
          };
      Iterator<InternalRow> out =
          KeelArrow.scorePartition(
              rows, handle, ctx, inSchema, outSchema, maxRecords, tz, large);
      String uid = version[1];
      int width = outSchema.length();
      return new Iterator<Row>() {
        @Override
        public boolean hasNext() {
          return out.hasNext();
        }

        @Override
        public Row next() {
          Row row = (Row) toRow.apply(out.next());
          if (!withVersion) {
            return row;
          }
          Object[] values = new Object[width + 1];
          for (int i = 0; i < width; i++) {
            values[i] = row.get(i);
          }
          values[width] = uid;
          return RowFactory.create(values);
        }
      };
    }
  }

  /**
   * {sha256, uid} of the bundle the running task scores with: its micro-batch's record in the
   * store, made from the plan's current version by the first task to get there; `initial`
   * without a store or outside a micro-batch.
   */
  static String[] taskVersion(TaskContext ctx, String store, String plan, String[] initial)
      throws IOException {
    if (store == null) {
      return initial;
    }
    String batch = ctx.getLocalProperty(BATCH_ID_PROPERTY);
    String query = ctx.getLocalProperty(QUERY_ID_PROPERTY);
    if (batch == null || query == null) {
      return initial;
    }
    Path record = Paths.get(store, plan, "batches", query, batch);
    String key = record.toString();
    String[] known = RECORDS.get(key);
    if (known != null) {
      return known;
    }
    String[] found = readLine(record);
    if (found == null) {
      String[] now = readLine(Paths.get(store, plan, "current"));
      if (now == null) {
        throw new KeelException(
            "keel version store " + store + ": no current version for plan " + plan);
      }
      publish(record, now[0] + " " + now[1] + "\n");
      found = readLine(record);
      if (found == null) {
        throw new KeelException("keel version store: " + record + " vanished after it was made");
      }
    }
    RECORDS.put(key, found);
    return found;
  }

  /** Writes `text` to `path` whole, unless `path` exists (then a faster task made it). */
  static void publish(Path path, String text) throws IOException {
    Files.createDirectories(path.getParent());
    Path tmp = path.resolveSibling(path.getFileName() + "." + UUID.randomUUID() + ".tmp");
    try {
      try (FileChannel ch =
              FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
          OutputStream os = java.nio.channels.Channels.newOutputStream(ch)) {
        os.write(text.getBytes(StandardCharsets.UTF_8));
        os.flush();
        ch.force(true);
      }
      try {
        Files.createLink(path, tmp);
      } catch (FileAlreadyExistsException e) {
        // Another task published first; its record is the batch's.
      }
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  /** {sha256, uid} from a record or `current`, or null when there is no such file. */
  static String[] readLine(Path path) throws IOException {
    String text;
    try {
      text = Files.readString(path, StandardCharsets.UTF_8);
    } catch (NoSuchFileException e) {
      return null;
    }
    String[] parts = text.trim().split("\\s+");
    if (parts.length != 2) {
      throw new KeelException("keel version store: " + path + " is not \"<sha256> <uid>\"");
    }
    return parts;
  }

  /** An accepted bundle's bytes from the store, checked against their digest. */
  static byte[] readStored(String store, String sha) throws IOException {
    Path path = Paths.get(store, "bundles", sha + ".keel");
    byte[] data = Files.readAllBytes(path);
    try {
      String got = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
      if (!got.equals(sha)) {
        throw new KeelException("keel version store: " + path + " does not match its sha256");
      }
    } catch (NoSuchAlgorithmException e) {
      throw new KeelException("keel version store: no SHA-256 in this JVM: " + e);
    }
    return data;
  }
}
