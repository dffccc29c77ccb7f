package sluice.bench;

import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Repartitioned;
import org.apache.kafka.streams.kstream.Produced;

/**
 * The Kafka side of `pnpm bench --peers` (bench/kafkaPeers.ts runs it), three commands:
 *
 *   produce BROKERS TOPIC PARTITIONS LINES_FILE       the input topic, one record per line
 *   run BROKERS INPUT OUTPUT APP_ID STATE_DIR COMMIT_MS CACHE_BYTES|default WORDS
 *                                                     the word count in Kafka Streams, until every
 *                                                     word is counted, then a clean close (a commit)
 *   verify BROKERS TOPIC LINES_FILE [EPOCH_LINES]     a read_committed reader of an output topic
 *   resume BROKERS INPUT OUTPUT APP_ID STATE_DIR killed|restarted KEYS
 *                                                     the resume after kill -9: "killed" counts until
 *                                                     KEYS words are counted and committed, then
 *                                                     SIGKILLs itself; "restarted" starts on that
 *                                                     state and times the changelog restore and the
 *                                                     first committed output after it
 *
 * Each prints one `@@result {json}` line. The verifier reads any word count's output the same
 * way: key = word, value = `["word",count]`, the last value of each key must be the word's count
 * in the input file, so the Sluice run and Kafka Streams are checked by the same code and by
 * Kafka's own Java consumer, not by the client Sluice uses. With EPOCH_LINES (a Sluice run with
 * `emit: "epoch"` on one input partition) it checks every record, not only the last: each word's
 * values, in offset order, must be its count at the close of each epoch of EPOCH_LINES lines in
 * which it occurs.
 */
public final class KafkaStreamsWordCount {
  private static final String MARK = "@@result ";

  public static void main(String[] args) throws Exception {
    switch (args[0]) {
      case "produce" -> produce(args[1], args[2], Integer.parseInt(args[3]), Path.of(args[4]));
      case "run" -> run(args[1], args[2], args[3], args[4], args[5], Long.parseLong(args[6]), args[7],
          Long.parseLong(args[8]));
      case "resume" -> resume(args[1], args[2], args[3], args[4], args[5], args[6], Long.parseLong(args[7]));
      case "verify" -> verify(args[1], args[2], Path.of(args[3]), args.length > 4 ? Integer.parseInt(args[4]) : 0);
      default -> throw new IllegalArgumentException("unknown command " + args[0]);
    }
  }

  private static Properties clientProperties(String brokers) {
    Properties properties = new Properties();
    properties.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
    return properties;
  }

  private static void produce(String brokers, String topic, int partitions, Path linesFile) throws Exception {
    try (Admin admin = Admin.create(clientProperties(brokers))) {
      // the resume workload appends a second pass of its keys to the topic it produced first
      if (!admin.listTopics().names().get().contains(topic)) {
        admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get();
      }
    }
    Properties properties = clientProperties(brokers);
    properties.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
    properties.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
    properties.put(ProducerConfig.LINGER_MS_CONFIG, 5);
    properties.put(ProducerConfig.BATCH_SIZE_CONFIG, 256 * 1024);
    long records = 0;
    try (KafkaProducer<String, String> producer = new KafkaProducer<>(properties)) {
      // round robin over the partitions, so that every partition holds an equal share of the lines
      for (String line : Files.readAllLines(linesFile, StandardCharsets.UTF_8)) {
        if (line.isEmpty()) continue;
        producer.send(new ProducerRecord<>(topic, (int) (records % partitions), null, line));
        records++;
      }
      producer.flush();
    }
    System.out.println(MARK + "{\"records\":" + records + "}");
  }

  private static Properties streamsProperties(String brokers, String appId, String stateDir, long commitMs,
      String cacheBytes) {
    Properties properties = clientProperties(brokers);
    properties.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
    properties.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    properties.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, commitMs);
    properties.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
    properties.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
    properties.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
    properties.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
    // "0" turns record caching off: every update of a count goes downstream, as Sluice emits it
    if (!cacheBytes.equals("default")) properties.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, Long.parseLong(cacheBytes));
    properties.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
    return properties;
  }

  /**
   * What `groupBy(word)` does, spelled out so that the words reaching the count can be counted (`counted`):
   * the input's committed offsets alone say nothing about the repartition topic's records still waiting.
   */
  private static StreamsBuilder wordCount(String input, String output, AtomicLong counted) {
    StreamsBuilder builder = new StreamsBuilder();
    builder.<String, String>stream(input)
        .flatMapValues(line -> Arrays.asList(line.split(" ")))
        .selectKey((key, word) -> word)
        .repartition(Repartitioned.with(Serdes.String(), Serdes.String()))
        .peek((word, unused) -> counted.incrementAndGet())
        .groupByKey()
        .count()
        .toStream()
        .map((word, count) -> KeyValue.pair(word, "[\"" + word + "\"," + count + "]"))
        .to(output, Produced.with(Serdes.String(), Serdes.String()));
    return builder;
  }

  private static void run(String brokers, String input, String output, String appId, String stateDir,
      long commitMs, String cacheBytes, long words) throws Exception {
    long jvmStart = ManagementFactory.getRuntimeMXBean().getStartTime();
    Properties properties = streamsProperties(brokers, appId, stateDir, commitMs, cacheBytes);
    // the run is done when every word has reached the count, and close() then commits them
    AtomicLong counted = new AtomicLong();
    StreamsBuilder builder = wordCount(input, output, counted);

    AtomicReference<Throwable> failure = new AtomicReference<>();
    long startedAt = System.currentTimeMillis();
    Long firstCommitAt = null;
    long doneAt;
    try (Admin admin = Admin.create(clientProperties(brokers));
        KafkaStreams streams = new KafkaStreams(builder.build(), properties)) {
      streams.setUncaughtExceptionHandler(error -> {
        failure.set(error);
        return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
      });
      streams.start();
      // The first commit: the group's committed input offsets (committed in the transaction of the first output).
      while (true) {
        if (failure.get() != null) throw new RuntimeException("kafka streams failed", failure.get());
        long committed = 0;
        for (Map.Entry<TopicPartition, OffsetAndMetadata> entry
            : admin.listConsumerGroupOffsets(appId).partitionsToOffsetAndMetadata().get().entrySet()) {
          if (entry.getKey().topic().equals(input) && entry.getValue() != null) committed += entry.getValue().offset();
        }
        long now = System.currentTimeMillis();
        if (committed > 0 && firstCommitAt == null) firstCommitAt = now;
        if (firstCommitAt != null && counted.get() >= words) break;
        if (now - startedAt > 1_800_000) {
          throw new RuntimeException("not done after 30 min: " + counted.get() + " of " + words + " words counted");
        }
        Thread.sleep(20);
      }
      // a clean close commits what was processed (exactly_once_v2: the last transaction)
      if (!streams.close(Duration.ofSeconds(60))) throw new RuntimeException("kafka streams did not close in 60 s");
      doneAt = System.currentTimeMillis();
    }
    var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
    double cpuSeconds = os.getProcessCpuTime() / 1e9;
    long peakRss = 0;
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith("VmHWM:")) peakRss = Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
    }
    System.out.println(MARK + "{\"medianSeconds\":" + (doneAt - startedAt) / 1000.0
        + ",\"startupSeconds\":" + (firstCommitAt - jvmStart) / 1000.0
        + ",\"cpuSeconds\":" + cpuSeconds + ",\"peakRssBytes\":" + peakRss + "}");
  }

  /** The words whose counts are committed: the group's committed offsets on the repartition topic(s). */
  private static long committedCounts(Admin admin, String appId) throws Exception {
    long committed = 0;
    for (Map.Entry<TopicPartition, OffsetAndMetadata> entry
        : admin.listConsumerGroupOffsets(appId).partitionsToOffsetAndMetadata().get().entrySet()) {
      if (entry.getKey().topic().endsWith("-repartition") && entry.getValue() != null) committed += entry.getValue().offset();
    }
    return committed;
  }

  /**
   * The resume after kill -9, as the Sluice side of `pnpm bench --peers --only=resume-kafka` does it, with
   * Kafka Streams' defaults for exactly_once_v2 (100 ms commits, record caching on). "killed": the input holds
   * each of KEYS words once; count until all are counted and committed, then SIGKILL this process (no close, no
   * checkpoint file: exactly_once_v2 then wipes the local RocksDB state and restores it from the changelog).
   * "restarted" (the runner has appended the same words again): start on that state and time, from the JVM's
   * start, the end of the changelog restore and the first commit of new counts after it.
   */
  private static void resume(String brokers, String input, String output, String appId, String stateDir,
      String phase, long keys) throws Exception {
    long jvmStart = ManagementFactory.getRuntimeMXBean().getStartTime();
    Properties properties = streamsProperties(brokers, appId, stateDir, 100, "default");
    // The killed member stays in the group until its session expires, and the restarted one's join waits for
    // that: the broker's minimum (6 s) instead of the default 45 s, as a deployment that restarts in place sets it.
    properties.put(StreamsConfig.consumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG), 6_000);
    AtomicLong counted = new AtomicLong();
    AtomicLong restored = new AtomicLong();
    AtomicLong restoreStartAt = new AtomicLong();
    AtomicLong restoreEndAt = new AtomicLong();
    AtomicReference<Throwable> failure = new AtomicReference<>();
    try (Admin admin = Admin.create(clientProperties(brokers));
        KafkaStreams streams = new KafkaStreams(wordCount(input, output, counted).build(), properties)) {
      long before = phase.equals("restarted") ? committedCounts(admin, appId) : 0;
      if (phase.equals("restarted") && before < keys) {
        throw new IllegalStateException("the killed run committed " + before + " of " + keys + " counts");
      }
      streams.setGlobalStateRestoreListener(new org.apache.kafka.streams.processor.StateRestoreListener() {
        @Override public void onRestoreStart(TopicPartition partition, String store, long start, long end) {
          restoreStartAt.compareAndSet(0, System.currentTimeMillis());
        }
        @Override public void onBatchRestored(TopicPartition partition, String store, long end, long batch) {
          restored.addAndGet(batch);
        }
        @Override public void onRestoreEnd(TopicPartition partition, String store, long total) {
          restoreEndAt.set(System.currentTimeMillis());
        }
      });
      streams.setUncaughtExceptionHandler(error -> {
        failure.set(error);
        return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
      });
      streams.start();
      long startedAt = System.currentTimeMillis();
      while (true) {
        if (failure.get() != null) throw new RuntimeException("kafka streams failed", failure.get());
        long committed = committedCounts(admin, appId);
        if (phase.equals("killed") && committed >= keys) {
          // a real kill -9 of this JVM, as the Sluice side's process.kill(process.pid, "SIGKILL")
          new ProcessBuilder("kill", "-9", String.valueOf(ProcessHandle.current().pid())).start().waitFor();
          Thread.sleep(60_000);
        }
        if (phase.equals("restarted") && committed > before) break;
        if (System.currentTimeMillis() - startedAt > 1_800_000) {
          throw new RuntimeException("no commit after 30 min: " + committed + " counts committed, " + before + " before");
        }
        Thread.sleep(20);
      }
      long firstCommitAt = System.currentTimeMillis();
      var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
      long peakRss = 0;
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith("VmHWM:")) peakRss = Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
      }
      System.out.println(MARK + "{\"startupSeconds\":" + (firstCommitAt - jvmStart) / 1000.0
          + ",\"openSeconds\":" + (restoreEndAt.get() == 0 ? 0 : (restoreEndAt.get() - startedAt) / 1000.0)
          + ",\"restoreSeconds\":" + (restoreEndAt.get() == 0 ? 0 : (restoreEndAt.get() - restoreStartAt.get()) / 1000.0)
          + ",\"restoredRecords\":" + restored.get()
          + ",\"cpuSeconds\":" + os.getProcessCpuTime() / 1e9 + ",\"peakRssBytes\":" + peakRss + "}");
      System.out.flush();
      // the figures are taken: no need to wait for a clean close
      Runtime.getRuntime().halt(0);
    }
  }

  private static void verify(String brokers, String topic, Path linesFile, int epochLines) throws Exception {
    Map<String, Long> expected = new HashMap<>();
    // with epochLines: each word's count at the close of every epoch it occurs in
    Map<String, List<Long>> expectedPerEpoch = new HashMap<>();
    List<String> changed = new ArrayList<>();
    int linesInEpoch = 0;
    for (String line : Files.readAllLines(linesFile, StandardCharsets.UTF_8)) {
      if (line.isEmpty()) continue;
      for (String word : line.split(" ")) {
        expected.merge(word, 1L, Long::sum);
        changed.add(word);
      }
      if (epochLines > 0 && ++linesInEpoch == epochLines) {
        closeEpoch(changed, expected, expectedPerEpoch);
        linesInEpoch = 0;
      }
    }
    if (epochLines > 0) closeEpoch(changed, expected, expectedPerEpoch);
    Map<String, List<Long>> seen = new HashMap<>();
    Properties properties = clientProperties(brokers);
    properties.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    properties.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
    properties.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
    properties.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 10_000);
    Map<String, Long> last = new HashMap<>();
    long records = 0;
    try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(properties)) {
      List<TopicPartition> partitions = new ArrayList<>();
      for (PartitionInfo info : consumer.partitionsFor(topic)) partitions.add(new TopicPartition(topic, info.partition()));
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      // read_committed end offsets are the last stable offsets: everything committed
      Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
      while (partitions.stream().anyMatch(p -> consumer.position(p) < end.get(p))) {
        for (ConsumerRecord<String, String> record : consumer.poll(Duration.ofMillis(500))) {
          String value = record.value();
          long count = Long.parseLong(value.substring(value.lastIndexOf(',') + 1, value.length() - 1));
          last.put(record.key(), count);
          if (epochLines > 0) seen.computeIfAbsent(record.key(), k -> new ArrayList<>()).add(count);
          records++;
        }
      }
    }
    String verdict = null;
    if (!last.keySet().equals(expected.keySet())) {
      verdict = "the output has " + last.size() + " words, the input " + expected.size();
    } else {
      for (Map.Entry<String, Long> entry : expected.entrySet()) {
        if (!entry.getValue().equals(last.get(entry.getKey()))) {
          verdict = "word " + entry.getKey() + ": last count " + last.get(entry.getKey()) + ", input " + entry.getValue();
          break;
        }
      }
    }
    if (verdict == null && epochLines > 0) {
      for (Map.Entry<String, List<Long>> entry : expectedPerEpoch.entrySet()) {
        List<Long> values = seen.get(entry.getKey());
        if (!entry.getValue().equals(values)) {
          verdict = "word " + entry.getKey() + ": counts " + values + ", expected one per epoch " + entry.getValue();
          break;
        }
      }
    }
    System.out.println(MARK + "{\"outputRecords\":" + records
        + (verdict == null ? "" : ",\"error\":\"" + verdict.replace("\"", "'") + "\"") + "}");
  }

  private static void closeEpoch(List<String> changed, Map<String, Long> counts, Map<String, List<Long>> perEpoch) {
    for (String word : new java.util.TreeSet<>(changed)) {
      perEpoch.computeIfAbsent(word, k -> new ArrayList<>()).add(counts.get(word));
    }
    changed.clear();
  }
}
