package io.stickybucket.client;

import com.optimizely.ab.Optimizely;
import com.optimizely.ab.bucketing.UserProfileService;
import java.net.http.HttpClient;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Not part of the test run ({@code mvn -Pbench test} runs it): the SDK's
 * decide with this client over loopback against a real serve, next to the
 * same SDK with an in-memory profile service and with none; p50/p90/p99 per
 * decide of the flag new_search on examples/datafile-v1.json, after a warm-up.
 */
@Tag("benchmark")
class BenchmarkTest {
    private static final int DECIDES = Integer.getInteger("bench.decides", 2000);
    private static final int WARMUP = Integer.getInteger("bench.warmup", 2000);
    private static final Map<String, Object> ATTRS = Map.of("plan", "pro", "app_version", "3.2.0", "country", "de");

    @Test
    void decideLatency() throws Exception {
        String datafile = Files.readString(ServeProcess.repoRoot().resolve("examples/datafile-v1.json"));
        try (ServeProcess serve = ServeProcess.start();
             StickyBucketUserProfileService sync = StickyBucketUserProfileService.builder(serve.baseUrl)
                     .token(ServeProcess.TOKEN).build();
             StickyBucketUserProfileService async = StickyBucketUserProfileService.builder(serve.baseUrl)
                     .token(ServeProcess.TOKEN).asyncSaves(10_000).build();
             // The JDK HttpClient's own callbacks run on its selector thread instead of
             // being handed to an executor: fewer thread hops, at the cost described in the README.
             StickyBucketUserProfileService direct = StickyBucketUserProfileService.builder(serve.baseUrl)
                     .token(ServeProcess.TOKEN).httpClient(HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                             .connectTimeout(Duration.ofMillis(200)).executor(Runnable::run).build()).build()) {
            Map<String, UserProfileService> services = new LinkedHashMap<>();
            services.put("no profile service", null);
            services.put("in-memory map", new MapUserProfileService());
            services.put("stickybucket (sync saves)", sync);
            services.put("stickybucket (async saves)", async);
            services.put("stickybucket (sync, direct executor)", direct);
            Map<String, Optimizely> sdks = new LinkedHashMap<>();
            services.forEach((name, ups) -> sdks.put(name, Sdk.build(datafile, ups)));

            System.out.printf("%nload average before: %s", loadAverage() + "\n");
            System.out.printf("%nbenchmark: %d decides of new_search per row after %d warm-up decides; %s, %d cores%n",
                    DECIDES, WARMUP, System.getProperty("java.vm.name") + " " + System.getProperty("java.version"),
                    Runtime.getRuntime().availableProcessors());
            // Returning user: the profile holds the assignment, so a decide is one lookup and no save.
            run("returning user (lookup only)", sdks, i -> "returning-user");
            // A new user every decide: a lookup and a save of the new assignment.
            run("new user per decide (lookup + save)", sdks, i -> "new-user-" + i);
            for (String name : List.of("stickybucket (sync saves)", "stickybucket (async saves)", "stickybucket (sync, direct executor)")) {
                Stats s = ((StickyBucketUserProfileService) services.get(name)).stats();
                if (s.lookupFailures() + s.saveFailures() > 0) {
                    System.out.printf("NOTE: %s: %d lookups and %d saves failed (%s, %s); its figures include them%n",
                            name, s.lookupFailures(), s.saveFailures(), s.lookupFailuresByKind(), s.saveFailuresByKind());
                }
            }
            System.out.printf("load average after: %s%n", loadAverage());
            System.out.println("sync client: " + sync.stats());
            System.out.println("async client: " + async.stats());
            System.out.println("direct-executor client: " + direct.stats());
        }
    }

    private static void run(String title, Map<String, Optimizely> sdks, IntFunction<String> user) {
        Map<String, long[]> times = new LinkedHashMap<>();
        sdks.keySet().forEach(k -> times.put(k, new long[DECIDES]));
        List<Map.Entry<String, Optimizely>> entries = new ArrayList<>(sdks.entrySet());
        // Warm-up and measurement interleave the SDKs decide by decide, so
        // that each sees the same machine; users are prefixed per SDK so that
        // each "new user" is new to every profile service.
        for (int i = 0; i < WARMUP + DECIDES; i++) {
            for (int k = 0; k < entries.size(); k++) {
                String u = k + "-" + (i < WARMUP ? "warm-" : "") + user.apply(i);
                Optimizely o = entries.get(k).getValue();
                long t0 = System.nanoTime();
                o.createUserContext(u, ATTRS).decide("new_search");
                long dt = System.nanoTime() - t0;
                if (i >= WARMUP) {
                    times.get(entries.get(k).getKey())[i - WARMUP] = dt;
                }
            }
        }
        System.out.printf("%n%s%n%-38s %9s %9s %9s %9s%n", title, "", "p50 µs", "p90 µs", "p99 µs", "max µs");
        times.forEach((name, t) -> {
            Arrays.sort(t);
            System.out.printf("%-38s %9.1f %9.1f %9.1f %9.1f%n", name, pct(t, 0.50), pct(t, 0.90), pct(t, 0.99), t[t.length - 1] / 1000.0);
        });
    }

    /** The 1, 5 and 15 minute load averages (Linux), to say how busy the machine was. */
    private static String loadAverage() {
        try {
            String[] f = Files.readString(java.nio.file.Path.of("/proc/loadavg")).split(" ");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (java.io.IOException | RuntimeException e) {
            return "n/a";
        }
    }

    private static double pct(long[] sorted, double p) {
        return sorted[Math.min(sorted.length - 1, (int) Math.ceil(p * sorted.length) - 1)] / 1000.0;
    }
}
