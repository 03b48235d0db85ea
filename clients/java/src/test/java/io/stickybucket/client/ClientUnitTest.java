package io.stickybucket.client;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.optimizely.ab.Optimizely;
import com.optimizely.ab.error.RaiseExceptionErrorHandler;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The client alone, against a scripted JDK HttpServer. */
class ClientUnitTest {
    private static final String TOKEN = "unit-test-token-0123456789";
    /** For the tests of timeouts. */
    private static final Duration TIMEOUT = Duration.ofMillis(150);
    /** For the others: long enough that a busy machine never makes them time out. */
    private static final Duration PATIENT = Duration.ofSeconds(5);
    private static final String PROFILE = "{\"user_id\":\"u1\",\"experiment_bucket_map\":{\"e1\":{\"variation_id\":\"v1\"},\"e2\":{\"variation_id\":\"v2\"}}}";

    private TestServer server;
    private final List<String> logLines = RecordingLogger.lines();
    private final AtomicLong clock = new AtomicLong(1_000_000_000L);

    @BeforeEach
    void start() throws Exception {
        server = TestServer.start();
    }

    @AfterEach
    void stop() {
        server.close();
    }

    private StickyBucketUserProfileService.Builder builder() {
        return StickyBucketUserProfileService.builder(server.url()).token(TOKEN).timeout(PATIENT)
                .logger(RecordingLogger.of(logLines)).clock(clock::get);
    }

    private static Map<String, Object> profile(String user, Map<String, String> buckets) {
        Map<String, Map<String, String>> m = new HashMap<>();
        buckets.forEach((e, v) -> m.put(e, new HashMap<>(Map.of("variation_id", v))));
        Map<String, Object> p = new HashMap<>();
        p.put("user_id", user);
        p.put("experiment_bucket_map", m);
        return p;
    }

    private static TestServer.Script saves(TestServer.Script lookup) {
        return (r, ex) -> {
            if (r.path().equals("/v1/ups/save")) {
                TestServer.reply(ex, 200, "{\"written\":1,\"unchanged\":0,\"lost\":0}");
            } else {
                lookup.answer(r, ex);
            }
        };
    }

    @Test
    void lookupReturnsTheProfileAndSendsTokenAndJson() throws Exception {
        server.answer(200, PROFILE);
        try (var c = builder().build()) {
            assertEquals(profile("u1", Map.of("e1", "v1", "e2", "v2")), c.lookup("u1"));
        }
        TestServer.Request r = server.requests.get(0);
        assertEquals("POST", r.method());
        assertEquals("/v1/ups/lookup", r.path());
        assertEquals("Bearer " + TOKEN, r.header("Authorization"));
        assertEquals("application/json", r.header("Content-Type"));
        assertEquals("{\"user_id\":\"u1\"}", r.body());
    }

    @Test
    void noTokenNoAuthorizationHeader() throws Exception {
        server.answer(200, PROFILE);
        try (var c = builder().token(null).build()) {
            c.lookup("u1");
        }
        assertNull(server.requests.get(0).header("Authorization"));
    }

    @Test
    void userIdsAreSentAsJsonStrings() throws Exception {
        String odd = "visitor \"7\" \\ 🙂 Üser\n";
        server.script((r, ex) -> {
            String got = JsonParser.parseString(r.body()).getAsJsonObject().get("user_id").getAsString();
            JsonObject o = new JsonObject();
            o.addProperty("user_id", got);
            o.add("experiment_bucket_map", new JsonObject());
            TestServer.reply(ex, 200, o.toString());
        });
        try (var c = builder().build()) {
            assertEquals(profile(odd, Map.of()), c.lookup(odd));
        }
    }

    @Test
    void anUnknownUserIsAnEmptyProfileNotNull() throws Exception {
        server.answer(200, "{\"user_id\":\"nobody\",\"experiment_bucket_map\":{}}\n");
        try (var c = builder().build()) {
            assertEquals(profile("nobody", Map.of()), c.lookup("nobody"));
            assertEquals(0, c.stats().lookupFailures());
        }
    }

    @Test
    void aBasePathIsKept() throws Exception {
        server.answer(200, PROFILE);
        try (var c = StickyBucketUserProfileService.builder(server.url() + "/sticky/").timeout(PATIENT).build()) {
            c.lookup("u1");
        }
        assertEquals("/sticky/v1/ups/lookup", server.requests.get(0).path());
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "not json",
        "",
        "{\"user_id\":\"u1\",\"experiment_bucket_map\":{\"e1\":{\"variation_id\":5}}}",
        "{\"user_id\":\"u1\",\"experiment_bucket_map\":{\"e1\":{}}}",
        "{\"user_id\":\"u1\",\"experiment_bucket_map\":{\"e1\":\"v1\"}}",
        "{\"user_id\":\"u1\",\"experiment_bucket_map\":[]}",
        "{\"user_id\":\"u1\"}",
        "{\"experiment_bucket_map\":{}}",
        "{\"user_id\":\"someone else\",\"experiment_bucket_map\":{}}",
        "{user_id:\"u1\",experiment_bucket_map:{}}",
        "{\"user_id\":\"u1\",\"experiment_bucket_map\":{}} {}",
        "{\"user_id\":\"u1\",\"experiment_bucket_map\":{\"e1\":{\"variation_id\":\"v1\"}",
        "[]",
    })
    void aBadAnswerIsNoProfile(String body) throws Exception {
        server.answer(200, body);
        try (var c = builder().build()) {
            assertNull(c.lookup("u1"));
            Stats s = c.stats();
            assertEquals(1, s.lookupFailures(FailureKind.BAD_RESPONSE), s::toString);
            assertEquals(1, s.usersWithFailedLookup());
        }
    }

    @Test
    void unknownFieldsAreSkipped() throws Exception {
        server.answer(200, "{\"v\":[1,{\"x\":null}],\"user_id\":\"u1\",\"experiment_bucket_map\":{\"e1\":{\"variation_id\":\"v1\",\"decidedAt\":\"t\"}}}");
        try (var c = builder().build()) {
            assertEquals(profile("u1", Map.of("e1", "v1")), c.lookup("u1"));
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {500, 503, 401, 404, 400, 302})
    void anErrorStatusIsNoProfile(int status) throws Exception {
        server.answer(status, status == 302 ? "" : "{\"error\":\"scripted " + status + "\"}");
        try (var c = builder().build()) {
            assertNull(c.lookup("u1"));
            Stats s = c.stats();
            assertEquals(1, s.lookupFailures(FailureKind.HTTP_STATUS), s::toString);
            assertEquals(Map.of(status, 1L), s.httpStatuses());
        }
        assertEquals(1, logLines.size(), logLines::toString);
        assertTrue(logLines.get(0).contains("HTTP " + status), logLines::toString);
    }

    @Test
    void aSlowAnswerTimesOut() throws Exception {
        server.script((r, ex) -> {
            server.awaitRelease();
            TestServer.reply(ex, 200, PROFILE);
        });
        try (var c = builder().timeout(TIMEOUT).build()) {
            long t0 = System.nanoTime();
            assertNull(c.lookup("u1"));
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            assertTrue(ms >= TIMEOUT.toMillis() - 5 && ms < TIMEOUT.toMillis() + 1000, "took " + ms + " ms");
            assertEquals(1, c.stats().lookupFailures(FailureKind.TIMEOUT), () -> c.stats().toString());
        }
    }

    @Test
    void aBodyThatStallsTimesOut() throws Exception {
        server.script((r, ex) -> {
            ex.sendResponseHeaders(200, 0);
            OutputStream out = ex.getResponseBody();
            out.write("{\"user_id\":\"u1\",".getBytes(StandardCharsets.UTF_8));
            out.flush();
            server.awaitRelease();
        });
        try (var c = builder().timeout(TIMEOUT).build()) {
            long t0 = System.nanoTime();
            assertNull(c.lookup("u1"));
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            assertTrue(ms >= TIMEOUT.toMillis() - 5 && ms < TIMEOUT.toMillis() + 1000, "took " + ms + " ms");
            assertEquals(1, c.stats().lookupFailures(FailureKind.TIMEOUT), () -> c.stats().toString());
        }
    }

    @Test
    void aRefusedConnectionIsNoProfile() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        try (var c = StickyBucketUserProfileService.builder("http://127.0.0.1:" + port).timeout(TIMEOUT)
                .logger(RecordingLogger.of(logLines)).build()) {
            assertNull(c.lookup("u1"));
            c.save(profile("u1", Map.of("e1", "v1")));
            Stats s = c.stats();
            assertEquals(1, s.lookupFailures(FailureKind.CONNECTION), s::toString);
            assertEquals(1, s.saveFailures(FailureKind.CONNECTION), s::toString);
        }
    }

    /** A listener whose accept queue is full: the SYN goes unanswered and connecting hangs. */
    @Test
    void aConnectThatHangsTimesOut() throws Exception {
        try (ServerSocket full = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            List<java.net.Socket> fillers = new java.util.ArrayList<>();
            try {
                for (int i = 0; i < 8; i++) {
                    java.net.Socket s = new java.net.Socket();
                    try {
                        s.connect(full.getLocalSocketAddress(), 100);
                        fillers.add(s);
                    } catch (java.io.IOException e) {
                        s.close();
                        break; // the queue is full now
                    }
                }
                try (var c = StickyBucketUserProfileService.builder("http://127.0.0.1:" + full.getLocalPort()).timeout(TIMEOUT)
                        .logger(RecordingLogger.of(logLines)).build()) {
                    long t0 = System.nanoTime();
                    assertNull(c.lookup("u1"));
                    long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
                    System.out.println("connect that hangs: lookup returned after " + ms + " ms, " + c.stats().lookupFailuresByKind());
                    assertTrue(ms >= TIMEOUT.toMillis() - 5 && ms < TIMEOUT.toMillis() + 1000, "took " + ms + " ms");
                    assertEquals(1, c.stats().lookupFailures(FailureKind.TIMEOUT), () -> c.stats().toString());
                }
            } finally {
                for (java.net.Socket s : fillers) {
                    s.close();
                }
            }
        }
    }

    /** A kept-alive connection the server closed is tried once more on a new one. */
    @Test
    void aClosedConnectionIsTriedOnceMore() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        server.script((r, ex) -> {
            if (calls.incrementAndGet() == 1) {
                return; // no answer: closing the exchange unanswered closes the connection
            }
            TestServer.reply(ex, 200, PROFILE);
        });
        try (var c = builder().build()) {
            assertEquals(profile("u1", Map.of("e1", "v1", "e2", "v2")), c.lookup("u1"));
            assertEquals(0, c.stats().lookupFailures(), () -> c.stats().toString());
        }
        assertEquals(2, server.requests.size());
        assertTrue(server.requests.get(0).remotePort() != server.requests.get(1).remotePort(), "a new connection");
    }

    @Test
    void aConnectionThatKeepsClosingFailsOnce() throws Exception {
        server.script((r, ex) -> { });
        try (var c = builder().build()) {
            assertNull(c.lookup("u1"));
            Stats s = c.stats();
            assertEquals(1, s.lookupFailures(FailureKind.CONNECTION), s::toString);
        }
        assertEquals(2, server.requests.size(), "one try more, not a loop");
    }

    @Test
    void aLoneSurrogateInAUserIdIsNotSent() throws Exception {
        server.answer(200, PROFILE);
        try (var c = builder().build()) {
            assertNull(c.lookup("user\uD800"));
            c.save(profile("user\uDC00x", Map.of("e", "v")));
            Stats s = c.stats();
            assertEquals(1, s.lookupFailures(FailureKind.INVALID_INPUT), s::toString);
            assertEquals(1, s.saveFailures(FailureKind.INVALID_INPUT), s::toString);
            c.lookup("emoji \uD83D\uDE42"); // a pair is fine
            assertEquals(1, c.stats().lookupFailures(FailureKind.INVALID_INPUT), () -> c.stats().toString());
        }
        assertEquals(1, server.requests.size());
    }

    @Test
    void saveSendsTheWholeProfileAndCountsTheAnswer() throws Exception {
        server.answer(200, "{\"written\":2,\"unchanged\":3,\"lost\":1}");
        try (var c = builder().build()) {
            c.save(profile("u1", Map.of("e1", "v1", "e2", "v2")));
            Stats s = c.stats();
            assertEquals(1, s.saves());
            assertEquals(0, s.saveFailures());
            assertEquals(2, s.entriesWritten());
            assertEquals(3, s.entriesUnchanged());
            assertEquals(1, s.entriesLost());
        }
        TestServer.Request r = server.requests.get(0);
        assertEquals("/v1/ups/save", r.path());
        assertNull(r.query());
        assertEquals("Bearer " + TOKEN, r.header("Authorization"));
        assertEquals("application/json", r.header("Content-Type"));
        JsonObject body = JsonParser.parseString(r.body()).getAsJsonObject();
        assertEquals("u1", body.get("user_id").getAsString());
        assertEquals(JsonParser.parseString("{\"e1\":{\"variation_id\":\"v1\"},\"e2\":{\"variation_id\":\"v2\"}}"),
                body.get("experiment_bucket_map"));
    }

    @Test
    void aSaveAfterAFailedLookupIsOnlyNewUntilALookupSucceedsOnTheSameThread() throws Exception {
        AtomicInteger lookupStatus = new AtomicInteger(503);
        server.script(saves((r, ex) -> TestServer.reply(ex, lookupStatus.get(), lookupStatus.get() == 200 ? PROFILE : "{\"error\":\"x\"}")));
        try (var c = builder().build()) {
            assertNull(c.lookup("u1"));
            c.save(profile("u1", Map.of("e1", "v9")));
            c.save(profile("u2", Map.of("e1", "v9")));
            lookupStatus.set(200);
            assertEquals(profile("u1", Map.of("e1", "v1", "e2", "v2")), c.lookup("u1"));
            c.save(profile("u1", Map.of("e1", "v1", "e3", "v3")));
            assertEquals(1, c.stats().savesOnlyNew());
            assertEquals(0, c.stats().usersWithFailedLookup());
        }
        List<String> saveQueries = server.requests.stream().filter(r -> r.path().equals("/v1/ups/save"))
                .map(r -> String.valueOf(r.query())).toList();
        assertEquals(List.of("only_new=true", "null", "null"), saveQueries);
    }

    @Test
    void aFailedLookupOnAnotherThreadKeepsSavesOnlyNew() throws Exception {
        AtomicInteger lookupStatus = new AtomicInteger(500);
        server.script(saves((r, ex) -> TestServer.reply(ex, lookupStatus.get(), lookupStatus.get() == 200 ? PROFILE : "{}")));
        try (var c = builder().build()) {
            Thread other = new Thread(() -> c.lookup("u1"));
            other.start();
            other.join(5000);
            lookupStatus.set(200);
            c.lookup("u1"); // succeeds here, but the other thread's decision may still save its guess
            c.save(profile("u1", Map.of("e1", "v1")));
        }
        TestServer.Request save = server.requests.stream().filter(r -> r.path().equals("/v1/ups/save")).findFirst().orElseThrow();
        assertEquals("only_new=true", save.query());
    }

    @Test
    void failedLookupsAreForgottenAfterTheTtlAndBounded() throws Exception {
        server.script(saves((r, ex) -> TestServer.reply(ex, 503, "{}")));
        try (var c = builder().failedLookupCapacity(2).failedLookupTtl(Duration.ofSeconds(60)).build()) {
            c.lookup("a");
            c.lookup("b");
            c.lookup("c"); // "a" is pushed out
            assertEquals(2, c.stats().usersWithFailedLookup());
            c.save(profile("a", Map.of("e", "v")));
            c.save(profile("b", Map.of("e", "v")));
            clock.addAndGet(TimeUnit.SECONDS.toNanos(61));
            c.save(profile("c", Map.of("e", "v")));
            assertEquals(0, c.stats().usersWithFailedLookup());
        }
        Map<String, String> queries = server.requests.stream().filter(r -> r.path().equals("/v1/ups/save"))
                .collect(Collectors.toMap(r -> JsonParser.parseString(r.body()).getAsJsonObject().get("user_id").getAsString(),
                        r -> String.valueOf(r.query())));
        assertEquals(Map.of("a", "null", "b", "only_new=true", "c", "null"), queries);
    }

    @Test
    void failedSavesAreCountedNeverThrown() throws Exception {
        server.script((r, ex) -> {
            if (r.body().contains("slow")) {
                server.awaitRelease();
            }
            TestServer.reply(ex, 500, "{\"error\":\"boom\"}");
        });
        try (var c = builder().timeout(TIMEOUT).build()) {
            assertDoesNotThrow(() -> c.save(profile("u1", Map.of("e1", "v1"))));
            assertDoesNotThrow(() -> c.save(profile("slow", Map.of("e1", "v1"))));
            Map<String, Object> bad = new HashMap<>();
            bad.put("user_id", 42);
            assertDoesNotThrow(() -> c.save(bad));
            assertDoesNotThrow(() -> c.save(null));
            Map<String, Object> badEntry = profile("u1", Map.of());
            badEntry.put("experiment_bucket_map", Map.of("e1", "v1"));
            assertDoesNotThrow(() -> c.save(badEntry));
            Stats s = c.stats();
            assertEquals(5, s.saves());
            assertEquals(1, s.saveFailures(FailureKind.HTTP_STATUS), s::toString);
            assertEquals(1, s.saveFailures(FailureKind.TIMEOUT), s::toString);
            assertEquals(3, s.saveFailures(FailureKind.INVALID_INPUT), s::toString);
        }
        assertEquals(2, server.requests.size(), "invalid profiles are not sent");
    }

    @Test
    void anEmptyUserIdSendsNothing() throws Exception {
        server.answer(200, PROFILE);
        try (var c = builder().build()) {
            assertNull(c.lookup(""));
            assertNull(c.lookup(null));
            c.save(profile("", Map.of("e", "v")));
            Stats s = c.stats();
            assertEquals(2, s.lookupFailures(FailureKind.INVALID_INPUT), s::toString);
            assertEquals(1, s.saveFailures(FailureKind.INVALID_INPUT), s::toString);
            assertEquals(0, s.usersWithFailedLookup());
        }
        assertTrue(server.requests.isEmpty());
    }

    @Test
    void connectionsAreKeptAlive() throws Exception {
        server.script(saves((r, ex) -> TestServer.reply(ex, 200, PROFILE)));
        try (var c = builder().build()) {
            for (int i = 0; i < 20; i++) {
                c.lookup("u1");
                c.save(profile("u1", Map.of("e1", "v1")));
            }
            assertEquals(0, c.stats().lookupFailures() + c.stats().saveFailures());
        }
        Set<Integer> ports = server.requests.stream().map(TestServer.Request::remotePort).collect(Collectors.toSet());
        assertEquals(40, server.requests.size());
        assertEquals(1, ports.size(), "one connection for 40 sequential calls, got " + ports);
    }

    @Test
    void failureLogsAreRateLimitedPerKind() throws Exception {
        AtomicInteger status = new AtomicInteger(500);
        server.script((r, ex) -> TestServer.reply(ex, status.get(), "{\"error\":\"e\"}"));
        try (var c = builder().logInterval(Duration.ofSeconds(10)).build()) {
            for (int i = 0; i < 50; i++) {
                c.lookup("u" + i);
            }
            assertEquals(1, logLines.size(), logLines::toString);
            status.set(503);
            c.lookup("x");
            c.lookup("y");
            assertEquals(2, logLines.size(), "another kind logs its own line: " + logLines);
            clock.addAndGet(TimeUnit.SECONDS.toNanos(11));
            status.set(500);
            c.lookup("z");
            assertEquals(3, logLines.size(), logLines::toString);
            assertTrue(logLines.get(2).contains("HTTP 500") && logLines.get(2).contains("49 more"), logLines.get(2));
            assertEquals(53, c.stats().lookupFailures(), "every failure is counted");
        }
    }

    @Test
    void asyncSavesDropWhenTheQueueIsFull() throws Exception {
        server.script((r, ex) -> {
            server.awaitRelease();
            TestServer.reply(ex, 200, "{\"written\":1,\"unchanged\":0,\"lost\":0}");
        });
        try (var c = builder().timeout(Duration.ofSeconds(5)).asyncSaves(2).closeTimeout(Duration.ofMillis(100)).build()) {
            c.save(profile("u0", Map.of("e", "v")));
            assertTrue(server.awaitFirstRequest(5000), "the worker sent the first save");
            for (int i = 1; i <= 4; i++) {
                long t0 = System.nanoTime();
                c.save(profile("u" + i, Map.of("e", "v")));
                assertTrue(System.nanoTime() - t0 < TimeUnit.MILLISECONDS.toNanos(1000), "async save waited");
            }
            Stats s = c.stats();
            assertEquals(2, s.savesDropped(), s::toString);
            assertEquals(2, s.queued(), s::toString);
        }
    }

    @Test
    void asyncSavesAreRetried() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        server.script((r, ex) -> {
            if (calls.incrementAndGet() <= 2) {
                TestServer.reply(ex, 503, "{\"error\":\"store unavailable\"}");
            } else {
                TestServer.reply(ex, 200, "{\"written\":1,\"unchanged\":0,\"lost\":0}");
            }
        });
        var c = builder().asyncSaves(10).saveRetries(2).retryBackoff(Duration.ofMillis(5)).build();
        c.save(profile("u1", Map.of("e", "v")));
        c.close();
        Stats s = c.stats();
        assertEquals(2, s.saveRetries(), s::toString);
        assertEquals(0, s.saveFailures(), s::toString);
        assertEquals(1, s.entriesWritten(), s::toString);
        assertEquals(3, server.requests.size());
    }

    @Test
    void asyncSavesAreNotRetriedOnAClientError() throws Exception {
        server.answer(400, "{\"error\":\"bad\"}");
        var c = builder().asyncSaves(10).retryBackoff(Duration.ofMillis(5)).build();
        c.save(profile("u1", Map.of("e", "v")));
        c.close();
        Stats s = c.stats();
        assertEquals(0, s.saveRetries(), s::toString);
        assertEquals(1, s.saveFailures(FailureKind.HTTP_STATUS), s::toString);
        assertEquals(1, server.requests.size());
    }

    @Test
    void asyncCloseGivesUpAfterItsTimeout() throws Exception {
        server.script((r, ex) -> {
            server.awaitRelease();
            TestServer.reply(ex, 200, "{}");
        });
        var c = builder().timeout(Duration.ofSeconds(5)).asyncSaves(10).closeTimeout(Duration.ofMillis(200)).build();
        for (int i = 0; i < 3; i++) {
            c.save(profile("u" + i, Map.of("e", "v")));
        }
        assertTrue(server.awaitFirstRequest(5000));
        long t0 = System.nanoTime();
        c.close();
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        assertTrue(ms < 1500, "close took " + ms + " ms");
        Stats s = c.stats();
        assertEquals(2, s.savesDropped(), s::toString);
        assertEquals(1, s.saveFailures(FailureKind.INTERRUPTED), s::toString);
        assertEquals(0, s.queued());
    }

    /** The SDK with an error handler that rethrows: a client failure must never reach it. */
    @Test
    void theSdkNeverSeesAFailure() throws Exception {
        server.answer(500, "{\"error\":\"down\"}");
        String datafile = Files.readString(ServeProcess.repoRoot().resolve("examples/datafile-v1.json"));
        try (var c = builder().build()) {
            Optimizely o = Sdk.build(datafile, c, new RaiseExceptionErrorHandler());
            Map<String, Object> attrs = Map.of("plan", "pro", "app_version", "3.2.0", "country", "de");
            for (int i = 0; i < 5; i++) {
                String user = "user-" + i;
                assertEquals(Sdk.build(datafile, null).createUserContext(user, attrs).decide("new_search").getVariationKey(),
                        o.createUserContext(user, attrs).decide("new_search").getVariationKey());
                assertDoesNotThrow(() -> o.activate("checkout_button", user));
            }
            Stats s = c.stats();
            assertEquals(10, s.lookupFailures(FailureKind.HTTP_STATUS), s::toString);
            assertEquals(10, s.saveFailures(FailureKind.HTTP_STATUS), s::toString);
        }
    }

    @Test
    void theBuilderChecksItsInput() {
        assertThrows(IllegalArgumentException.class, () -> StickyBucketUserProfileService.builder("ftp://x"));
        assertThrows(IllegalArgumentException.class, () -> StickyBucketUserProfileService.builder("127.0.0.1:8080"));
        assertThrows(IllegalArgumentException.class, () -> StickyBucketUserProfileService.builder("http://x/?a=b"));
        assertThrows(IllegalArgumentException.class, () -> StickyBucketUserProfileService.builder("http://x").timeout(Duration.ZERO));
        assertThrows(IllegalArgumentException.class, () -> StickyBucketUserProfileService.builder("http://x").asyncSaves(-1));
    }
}
