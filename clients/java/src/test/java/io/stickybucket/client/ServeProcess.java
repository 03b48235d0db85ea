package io.stickybucket.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A real {@code stickybucket serve} process (in-memory store) on a free
 * loopback port, for the tests: started from $STICKYBUCKET_BIN, stopped
 * with SIGTERM, paused and resumed with SIGSTOP and SIGCONT.
 */
final class ServeProcess implements AutoCloseable {
    static final String TOKEN = "java-client-test-token-0123456789";
    private static final Pattern LISTEN = Pattern.compile("\"listen\":\\[\"127\\.0\\.0\\.1:(\\d+)\"");

    final Process process;
    final int port;
    final String baseUrl;
    private final Deque<String> lastLines;
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();
    private volatile boolean paused;

    private ServeProcess(Process process, int port, Deque<String> lastLines) {
        this.process = process;
        this.port = port;
        this.baseUrl = "http://127.0.0.1:" + port;
        this.lastLines = lastLines;
    }

    /** The repository's root (this project is clients/java in it). */
    static Path repoRoot() {
        Path root = Path.of("").toAbsolutePath().getParent().getParent();
        assertTrue(Files.isDirectory(root.resolve("clients/testdata/sticky")), "not clients/java of the repository: " + root);
        return root;
    }

    static String binary() {
        String bin = System.getenv("STICKYBUCKET_BIN");
        if (bin == null || bin.isEmpty()) {
            bin = System.getProperty("stickybucket.bin", "");
        }
        assertTrue(!bin.isEmpty() && Files.isExecutable(Path.of(bin)),
                "set STICKYBUCKET_BIN to a stickybucket binary (test.sh builds one): got '" + bin + "'");
        return bin;
    }

    /** Starts serve with the bearer token {@link #TOKEN} required on /v1. */
    static ServeProcess start() throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(binary(), "serve", "--listen", "127.0.0.1:0", "--admin-listen", "off",
                "--datafile", "k=" + repoRoot().resolve("examples/datafile-v1.json"));
        pb.environment().put("STICKYBUCKET_API_TOKENS", TOKEN);
        pb.redirectOutput(ProcessBuilder.Redirect.DISCARD);
        Process p = pb.start();
        CompletableFuture<Integer> ready = new CompletableFuture<>();
        Deque<String> lines = new ArrayDeque<>();
        Thread drain = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getErrorStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    synchronized (lines) {
                        lines.addLast(line);
                        if (lines.size() > 50) {
                            lines.removeFirst();
                        }
                    }
                    Matcher m = LISTEN.matcher(line);
                    if (line.contains("\"msg\":\"ready to serve\"") && m.find()) {
                        ready.complete(Integer.parseInt(m.group(1)));
                    }
                }
            } catch (IOException e) {
                // the process went away
            }
            ready.completeExceptionally(new IllegalStateException("serve exited before it was ready: " + lines));
        }, "serve-stderr");
        drain.setDaemon(true);
        drain.start();
        try {
            return new ServeProcess(p, ready.get(15, TimeUnit.SECONDS), lines);
        } catch (Exception e) {
            p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            throw new IllegalStateException("serve did not get ready: " + lines, e);
        }
    }

    void pause() throws IOException {
        signal("-STOP");
        paused = true;
    }

    void resume() throws IOException {
        signal("-CONT");
        paused = false;
    }

    private void signal(String sig) throws IOException {
        Process k = new ProcessBuilder("kill", sig, Long.toString(process.pid())).inheritIO().start();
        try {
            assertTrue(k.waitFor(5, TimeUnit.SECONDS), "kill " + sig + " hung");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while signalling serve", e);
        }
        assertEquals(0, k.exitValue(), "kill " + sig);
    }

    /** SIGTERM, and waits (bounded) for the process to exit. */
    void stop() throws InterruptedException {
        if (!process.isAlive()) {
            return;
        }
        process.destroy();
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        }
    }

    /** Waits (bounded) until /health answers, e.g. after SIGCONT. */
    void awaitHealthy() throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            try {
                HttpResponse<Void> r = http.send(HttpRequest.newBuilder(URI.create(baseUrl + "/health"))
                        .timeout(Duration.ofSeconds(1)).build(), HttpResponse.BodyHandlers.discarding());
                if (r.statusCode() == 200) {
                    return;
                }
            } catch (IOException e) {
                // not yet
            }
            assertTrue(System.nanoTime() < deadline, "serve did not get healthy");
            Thread.sleep(20);
        }
    }

    /** The user's stored assignments (experiment ID to variation ID), read over /v1/ups/lookup. */
    Map<String, String> stored(String userId) throws Exception {
        JsonObject req = new JsonObject();
        req.addProperty("user_id", userId);
        HttpResponse<String> r = post("/v1/ups/lookup", req.toString());
        assertEquals(200, r.statusCode(), r.body());
        Map<String, String> out = new TreeMap<>();
        JsonObject profile = JsonParser.parseString(r.body()).getAsJsonObject();
        for (Map.Entry<String, JsonElement> e : profile.getAsJsonObject("experiment_bucket_map").entrySet()) {
            out.put(e.getKey(), e.getValue().getAsJsonObject().get("variation_id").getAsString());
        }
        return out;
    }

    /** Stores these assignments for the user, as a plain save (overwriting). */
    void store(String userId, Map<String, String> assignments) throws Exception {
        JsonObject buckets = new JsonObject();
        assignments.forEach((exp, var) -> {
            JsonObject d = new JsonObject();
            d.addProperty("variation_id", var);
            buckets.add(exp, d);
        });
        JsonObject profile = new JsonObject();
        profile.addProperty("user_id", userId);
        profile.add("experiment_bucket_map", buckets);
        HttpResponse<String> r = post("/v1/ups/save", profile.toString());
        assertEquals(200, r.statusCode(), r.body());
    }

    /** GET /v1/profiles/{userId}: the admin view of the profile, as JSON text. */
    String profileView(String userId) throws Exception {
        String path = "/v1/profiles/" + URLEncoder.encode(userId, StandardCharsets.UTF_8).replace("+", "%20");
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(baseUrl + path))
                .header("Authorization", "Bearer " + TOKEN).timeout(Duration.ofSeconds(5)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        return r.body();
    }

    private HttpResponse<String> post(String path, String json) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(baseUrl + path))
                .header("Authorization", "Bearer " + TOKEN)
                .header("Content-Type", "application/json")
                .timeout(Duration.ofSeconds(5))
                .POST(HttpRequest.BodyPublishers.ofString(json)).build(), HttpResponse.BodyHandlers.ofString());
    }

    String lastLog() {
        synchronized (lastLines) {
            return String.join("\n", lastLines);
        }
    }

    @Override
    public void close() throws IOException {
        try {
            if (paused && process.isAlive()) {
                signal("-CONT");
            }
        } finally {
            process.destroy();
            try {
                if (!process.waitFor(10, TimeUnit.SECONDS)) {
                    process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                process.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
    }
}
