/*
 * keel's JVM engine: scores a DataFrame with a keel bundle inside the executor JVMs, with no
 * Python worker in the loop.
 *
 * Called by keel.spark_runtime.KeelModel (engine "jvm") through py4j. Each partition's rows go
 * to Arrow record batches through Spark's own converters (ArrowConverters, the code behind
 * toPandas and createDataFrame), each batch message through the native runtime
 * (jvm/src/lib.rs), and the answers back into rows through the same converters; the result is
 * a DataFrame of the output schema the Python driver planned. Compared with mapInArrow this
 * saves the socket round trip to a Python worker and the Python-side batch handling, which
 * bound mapInArrow's throughput for cheap models.
 */
package dev.keel.spark;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.channels.Channels;
import java.util.Base64;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.arrow.vector.ipc.WriteChannel;
import org.apache.arrow.vector.ipc.message.MessageSerializer;
import org.apache.arrow.vector.types.pojo.Schema;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.UnsafeProjection;
import org.apache.spark.sql.classic.Dataset;
import org.apache.spark.sql.classic.SparkSession;
import org.apache.spark.sql.execution.arrow.ArrowConverters$;
import org.apache.spark.sql.internal.SQLConf;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.util.ArrowUtils;
import scala.jdk.javaapi.CollectionConverters;

/** Entry point of the JVM engine. */
public final class KeelArrow {
  private KeelArrow() {}

  /** One broadcast of a bundle's bytes per application and bundle (the driver side). */
  private static final ConcurrentHashMap<String, Broadcast<byte[]>> BROADCASTS =
      new ConcurrentHashMap<>();

  /**
   * Bundles loaded in this JVM, by digest, frame schema and plan: loaded once per executor
   * JVM and shared by its task threads. Bounded: past MAX_CACHED a task loads its own copy and
   * frees it when it ends, so many distinct bundles cannot grow an executor without limit.
   */
  private static final ConcurrentHashMap<String, Long> HANDLES = new ConcurrentHashMap<>();

  static final int MAX_CACHED = 16;

  /** True: lets the Python side check that the jar is on the driver's class path. */
  public static boolean available() {
    return true;
  }

  /**
   * The rows of `frame` followed by the bundle's outputs, as planned by the driver.
   *
   * @param frame the columns to keep first, then any input columns the driver converted
   * @param bundle the bundle's bytes
   * @param sha the bundle's sha256 (cache key)
   * @param spec the scoring plan (JSON: keep, inputs, outputs, large_strings)
   * @param outSchemaJson the result's Spark schema (StructType JSON)
   */
  public static Dataset<Row> transform(
      Dataset<Row> frame, byte[] bundle, String sha, String spec, String outSchemaJson)
      throws IOException {
    SparkSession session = frame.sparkSession();
    SQLConf conf = session.sessionState().conf();
    String tz = conf.sessionLocalTimeZone();
    boolean large = conf.arrowUseLargeVarTypes();
    int maxRecords = conf.arrowMaxRecordsPerBatch();
    StructType inSchema = frame.schema();
    StructType outSchema = (StructType) DataType.fromJson(outSchemaJson);
    byte[] schemaMessage = schemaMessage(inSchema, tz, large);
    Broadcast<byte[]> source = broadcast(session, sha, bundle);
    Score fn =
        new Score(
            source, sha, spec, schemaMessage, inSchema, outSchema, tz, large, maxRecords);
    JavaRDD<InternalRow> rows = frame.queryExecution().toRdd().toJavaRDD();
    JavaRDD<InternalRow> scored = rows.mapPartitions(fn);
    return session.internalCreateDataFrame(scored.rdd(), outSchema, false);
  }

  /** The application's one broadcast of bundle `sha` (made on first use). */
  static Broadcast<byte[]> broadcast(SparkSession session, String sha, byte[] bundle) {
    JavaSparkContext jsc = JavaSparkContext.fromSparkContext(session.sparkContext());
    String appKey = jsc.sc().applicationId() + "/" + sha;
    return BROADCASTS.computeIfAbsent(appKey, k -> jsc.broadcast(bundle));
  }

  /** Supplies a bundle's bytes, read only when this JVM has not loaded it yet. */
  interface BundleBytes {
    byte[] get() throws IOException;
  }

  /**
   * The native handle of a bundle planned for one frame schema and spec (`key`): this JVM's
   * cached one, or loaded from `bytes`; past MAX_CACHED, the task's own, freed when it ends.
   */
  static long handle(
      String key, BundleBytes bytes, byte[] schemaMessage, String spec, TaskContext ctx)
      throws IOException {
    Long cached = HANDLES.get(key);
    if (cached != null) {
      return cached;
    }
    if (HANDLES.size() < MAX_CACHED) {
      // Two tasks may load the same bundle at once; the loser frees its copy.
      long mine = Native.open(bytes.get(), schemaMessage, spec);
      Long winner = HANDLES.putIfAbsent(key, mine);
      if (winner != null) {
        Native.close(mine);
        return winner;
      }
      return mine;
    }
    long own = Native.open(bytes.get(), schemaMessage, spec);
    ctx.addTaskCompletionListener(
        (org.apache.spark.util.TaskCompletionListener) c -> Native.close(own));
    return own;
  }

  /** The cache key of a handle: bundle digest, spec and frame schema. */
  static String handleKey(String sha, String spec, byte[] schemaMessage) {
    return sha + "\n" + spec + "\n" + Base64.getEncoder().encodeToString(schemaMessage);
  }

  /** The Arrow schema Spark's converters use for `schema`, as an IPC schema message. */
  static byte[] schemaMessage(StructType schema, String tz, boolean large) throws IOException {
    Schema arrow =
        ArrowUtils.toArrowSchema(schema, tz, true, large, ArrowUtils.toArrowSchema$default$5());
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    MessageSerializer.serialize(new WriteChannel(Channels.newChannel(out)), arrow);
    return out.toByteArray();
  }

  /** The partition function shipped to executors. */
  static final class Score implements FlatMapFunction<Iterator<InternalRow>, InternalRow> {
    private static final long serialVersionUID = 1L;
    private final Broadcast<byte[]> source;
    private final String key;
    private final String spec;
    private final byte[] schemaMessage;
    private final StructType inSchema;
    private final StructType outSchema;
    private final String tz;
    private final boolean large;
    private final int maxRecords;

    Score(
        Broadcast<byte[]> source,
        String sha,
        String spec,
        byte[] schemaMessage,
        StructType inSchema,
        StructType outSchema,
        String tz,
        boolean large,
        int maxRecords) {
      this.source = source;
      this.key = handleKey(sha, spec, schemaMessage);
      this.spec = spec;
      this.schemaMessage = schemaMessage;
      this.inSchema = inSchema;
      this.outSchema = outSchema;
      this.tz = tz;
      this.large = large;
      this.maxRecords = maxRecords;
    }

    @Override
    public Iterator<InternalRow> call(Iterator<InternalRow> rows) throws IOException {
      TaskContext ctx = TaskContext.get();
      long handle = KeelArrow.handle(key, source::value, schemaMessage, spec, ctx);
      Iterator<InternalRow> out =
          scorePartition(rows, handle, ctx, inSchema, outSchema, maxRecords, tz, large);
      UnsafeProjection project = UnsafeProjection.create(outSchema);
      return new Iterator<InternalRow>() {
        @Override
        public boolean hasNext() {
          return out.hasNext();
        }

        @Override
        public InternalRow next() {
          return project.apply(out.next());
        }
      };
    }
  }

  /**
   * A partition's rows through the runtime: Arrow batches of at most `maxRecords` rows by
   * Spark's own converters, each scored with `handle`, the answers back as rows of
   * `outSchema` (which the caller copies before the next row: they may be reused).
   */
  static Iterator<InternalRow> scorePartition(
      Iterator<InternalRow> rows,
      long handle,
      TaskContext ctx,
      StructType inSchema,
      StructType outSchema,
      int maxRecords,
      String tz,
      boolean large) {
    ArrowConverters$ conv = ArrowConverters$.MODULE$;
    Iterator<byte[]> batches =
        CollectionConverters.asJava(
            conv.toBatchIterator(
                CollectionConverters.asScala(rows), inSchema, maxRecords, tz, true, large, ctx));
    Iterator<byte[]> answers = new Answers(batches, handle, ctx.partitionId());
    return CollectionConverters.asJava(
        conv.fromBatchIterator(
            CollectionConverters.asScala(answers), outSchema, tz, true, large, ctx));
  }

  /** Each batch message through the runtime; counts rows for error messages. */
  static final class Answers implements Iterator<byte[]> {
    private final Iterator<byte[]> batches;
    private final long handle;
    private final int partition;
    private final long[] rows = new long[1];
    private long offset = 0;

    Answers(Iterator<byte[]> batches, long handle, int partition) {
      this.batches = batches;
      this.handle = handle;
      this.partition = partition;
    }

    @Override
    public boolean hasNext() {
      return batches.hasNext();
    }

    @Override
    public byte[] next() {
      if (!batches.hasNext()) {
        throw new NoSuchElementException();
      }
      byte[] batch = batches.next();
      byte[] answer;
      try {
        answer = Native.score(handle, batch, offset, rows);
      } catch (KeelException e) {
        // keel numbers rows within the partition (offset); say which partition.
        throw new KeelException(e.getMessage() + " [Spark partition " + partition + "]");
      }
      offset += rows[0];
      return answer;
    }
  }
}
