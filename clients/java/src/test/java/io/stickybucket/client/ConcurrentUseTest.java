package io.stickybucket.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.optimizely.ab.Optimizely;
import io.stickybucket.client.Sdk.Decided;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** One client shared by threads deciding for the same users at once, sync and async saves. */
class ConcurrentUseTest {
    private static final Map<String, Object> ATTRS = Map.of("plan", "pro", "app_version", "3.2.0", "country", "de");

    @Test
    void threadsShareOneClient() throws Exception {
        String datafile = Files.readString(ServeProcess.repoRoot().resolve("examples/datafile-v1.json"));
        Optimizely plain = Sdk.build(datafile, null);
        int threads = 4;
        int decidesPerThread = 150;
        int users = 40;
        for (boolean async : new boolean[] {false, true}) {
            try (ServeProcess serve = ServeProcess.start()) {
                StickyBucketUserProfileService.Builder b = StickyBucketUserProfileService.builder(serve.baseUrl)
                        .token(ServeProcess.TOKEN).timeout(Duration.ofSeconds(5));
                StickyBucketUserProfileService client = async ? b.asyncSaves(1000).build() : b.build();
                Optimizely o = Sdk.build(datafile, client);
                ExecutorService pool = Executors.newFixedThreadPool(threads);
                try {
                    List<Future<List<String>>> results = new ArrayList<>();
                    for (int t = 0; t < threads; t++) {
                        int seed = t;
                        results.add(pool.submit(() -> {
                            List<String> mismatches = new ArrayList<>();
                            for (int i = 0; i < decidesPerThread; i++) {
                                String user = "shared-" + ((i * 7 + seed * 13) % users);
                                for (String flag : List.of("new_search", "dark_mode")) {
                                    Decided got = Decided.of(o.createUserContext(user, ATTRS).decide(flag));
                                    Decided want = Decided.of(plain.createUserContext(user, ATTRS).decide(flag));
                                    if (!got.equals(want)) {
                                        mismatches.add(user + " " + flag + ": " + got + " vs " + want);
                                    }
                                }
                                o.activate("checkout_button", user, ATTRS);
                            }
                            return mismatches;
                        }));
                    }
                    for (Future<List<String>> r : results) {
                        List<String> m = r.get(60, TimeUnit.SECONDS);
                        assertTrue(m.isEmpty(), m::toString);
                    }
                } finally {
                    pool.shutdownNow();
                    assertTrue(pool.awaitTermination(10, TimeUnit.SECONDS));
                }
                client.close();
                Stats s = client.stats();
                assertEquals(0, s.lookupFailures() + s.saveFailures(), s::toString);
                assertEquals((long) threads * decidesPerThread * 3, s.lookups(), s::toString);
                for (int u = 0; u < users; u++) {
                    String user = "shared-" + u;
                    if (!serve.stored(user).isEmpty()) {
                        assertEquals(Map.of("3003", plain.getVariation("search_experiment", user, ATTRS).getId(),
                                "3001", plain.getVariation("checkout_button", user, ATTRS).getId()), serve.stored(user));
                    }
                }
                System.out.println((async ? "async" : "sync") + ": " + s);
            }
        }
    }
}
