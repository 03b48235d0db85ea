package io.stickybucket.client;

import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/** A small scripted HTTP server on loopback, on the JDK's own HttpServer. */
final class TestServer implements AutoCloseable {
    /** One request as the server got it; {@code remotePort} tells connections apart. */
    record Request(String method, String path, String query, Headers headers, String body, int remotePort) {
        String header(String name) {
            return headers.getFirst(name);
        }
    }

    /** What to do with a request: answer it, or hold it (see {@link #awaitRelease}). */
    interface Script {
        void answer(Request request, HttpExchange exchange) throws Exception;
    }

    final List<Request> requests = new CopyOnWriteArrayList<>();
    private final HttpServer server;
    private final ExecutorService executor;
    private final CountDownLatch release = new CountDownLatch(1);
    private final CountDownLatch firstRequest = new CountDownLatch(1);
    private volatile Script script = (r, ex) -> reply(ex, 404, "{\"error\":\"not scripted\"}");

    private TestServer() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 50);
        executor = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "test-server");
            t.setDaemon(true);
            return t;
        });
        server.setExecutor(executor);
        server.createContext("/", this::handle);
        server.start();
    }

    static TestServer start() throws IOException {
        return new TestServer();
    }

    String url() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    TestServer script(Script s) {
        this.script = s;
        return this;
    }

    /** Answers every request with this status and body. */
    TestServer answer(int status, String body) {
        return script((r, ex) -> reply(ex, status, body));
    }

    /** Holds a request until the test ends (bounded), for timeouts. */
    void awaitRelease() throws InterruptedException {
        release.await(10, TimeUnit.SECONDS);
    }

    boolean awaitFirstRequest(long millis) throws InterruptedException {
        return firstRequest.await(millis, TimeUnit.MILLISECONDS);
    }

    private void handle(HttpExchange ex) throws IOException {
        try (ex) {
            String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
            Request r = new Request(ex.getRequestMethod(), ex.getRequestURI().getPath(), ex.getRequestURI().getRawQuery(),
                    ex.getRequestHeaders(), body, ex.getRemoteAddress().getPort());
            requests.add(r);
            firstRequest.countDown();
            script.answer(r, ex);
        } catch (Exception e) {
            // the client went away (a timeout under test), or the script failed
        }
    }

    static void reply(HttpExchange ex, int status, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(status, b.length == 0 ? -1 : b.length);
        if (b.length > 0) {
            try (OutputStream out = ex.getResponseBody()) {
                out.write(b);
            }
        }
    }

    @Override
    public void close() {
        release.countDown();
        server.stop(0);
        executor.shutdownNow();
    }
}
