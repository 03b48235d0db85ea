package io.stickybucket.client;

import com.optimizely.ab.bucketing.UserProfileService;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Optimizely's {@link UserProfileService} over a stickybucket server: the
 * SDK's lookups and saves go to {@code POST /v1/ups/lookup} and
 * {@code POST /v1/ups/save}.
 *
 * <p>It fails open: a lookup that fails or takes longer than the timeout
 * returns {@code null} (the SDK then decides without a profile), a save that
 * fails is dropped; neither throws into the SDK. Failures are counted
 * ({@link #stats()}) and logged at most once per interval for each kind. A
 * user whose lookup failed has their following saves sent with
 * {@code ?only_new=true}, so the SDK's fresh bucketing never overwrites a
 * stored variation it could not see.
 *
 * <pre>{@code
 * var profiles = StickyBucketUserProfileService.builder("http://127.0.0.1:8080").token(token).build();
 * Optimizely optimizely = Optimizely.builder().withDatafile(datafile).withUserProfileService(profiles).build();
 * }</pre>
 *
 * <p>Thread-safe; build one per server and share it.
 */
public final class StickyBucketUserProfileService implements UserProfileService, AutoCloseable {
    static final String LOOKUP_PATH = "/v1/ups/lookup";
    static final String SAVE_PATH = "/v1/ups/save";
    private static final String USER_AGENT = "stickybucket-client-java/0.1";
    /** Below this much time left, a closed connection is not tried again. */
    private static final long MIN_RETRY_NANOS = 2_000_000;

    private final HttpClient http;
    private final URI lookupUri;
    private final URI saveUri;
    private final URI saveOnlyNewUri;
    private final Duration timeout;
    private final String authorization;
    private final Counters counters = new Counters();
    private final FailedLookups failedLookups;
    private final RateLimitedLog log;
    private final AsyncSaver async;
    private final Duration closeTimeout;

    private StickyBucketUserProfileService(Builder b) {
        String base = b.baseUrl.toString();
        while (base.endsWith("/")) {
            base = base.substring(0, base.length() - 1);
        }
        this.lookupUri = URI.create(base + LOOKUP_PATH);
        this.saveUri = URI.create(base + SAVE_PATH);
        this.saveOnlyNewUri = URI.create(base + SAVE_PATH + "?only_new=true");
        this.timeout = b.timeout;
        this.authorization = b.token == null ? null : "Bearer " + b.token;
        this.http = b.httpClient != null ? b.httpClient : HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(b.timeout)
                .followRedirects(HttpClient.Redirect.NEVER)
                .build();
        this.failedLookups = new FailedLookups(b.failedLookupCapacity, b.failedLookupTtl.toNanos(), b.clock);
        this.log = new RateLimitedLog(b.logger, b.logInterval.toNanos(), b.clock);
        this.closeTimeout = b.closeTimeout;
        this.async = b.asyncQueueCapacity > 0
                ? new AsyncSaver(b.asyncQueueCapacity, b.saveRetries, b.retryBackoff, this::sendSave, this::saveFailed, counters)
                : null;
    }

    /** A builder for a server at this base URL, e.g. {@code http://127.0.0.1:8080}. */
    public static Builder builder(String baseUrl) {
        return new Builder(URI.create(Objects.requireNonNull(baseUrl, "baseUrl")));
    }

    /** A builder for a server at this base URL. */
    public static Builder builder(URI baseUrl) {
        return new Builder(Objects.requireNonNull(baseUrl, "baseUrl"));
    }

    /**
     * The user's stored profile, with an empty {@code experiment_bucket_map}
     * for a user the store has nothing for; {@code null} when the server could
     * not be asked or did not answer in time. Never throws.
     */
    @Override
    public Map<String, Object> lookup(String userId) {
        counters.lookups.increment();
        if (userId == null || userId.isEmpty()) {
            lookupFailed(new CallFailure(FailureKind.INVALID_INPUT, 0, "the user ID is empty"), null);
            return null;
        }
        if (!ProfileJson.isWellFormed(userId)) {
            lookupFailed(new CallFailure(FailureKind.INVALID_INPUT, 0, "the user ID is not well-formed UTF-16"), null);
            return null;
        }
        try {
            byte[] body = call(lookupUri, ProfileJson.lookupBody(userId));
            Map<String, Object> profile = ProfileJson.parseProfile(body, userId);
            failedLookups.succeeded(userId);
            return profile;
        } catch (CallFailure f) {
            lookupFailed(f, userId);
        } catch (ProfileJson.BadResponseException e) {
            lookupFailed(new CallFailure(FailureKind.BAD_RESPONSE, 0, e.getMessage()), userId);
        } catch (RuntimeException e) {
            lookupFailed(new CallFailure(FailureKind.CONNECTION, 0, "unexpected " + e), userId);
        }
        return null;
    }

    /**
     * Sends the SDK's whole profile of the user; the server writes only what
     * changed. With {@code ?only_new=true} after a failed lookup of the user.
     * In async mode, queues it and returns at once. Never throws.
     */
    @Override
    public void save(Map<String, Object> userProfile) {
        counters.saves.increment();
        try {
            ProfileJson.SaveBody body = ProfileJson.saveBody(userProfile);
            boolean onlyNew = failedLookups.onlyNew(body.userId());
            if (onlyNew) {
                counters.savesOnlyNew.increment();
            }
            PendingSave pending = new PendingSave(body.json(), onlyNew);
            if (async != null) {
                if (!async.offer(pending)) {
                    saveFailed(new CallFailure(FailureKind.DROPPED, 0,
                            async.isClosed() ? "the client is closed" : "the save queue is full"));
                }
                return;
            }
            sendSave(pending);
        } catch (CallFailure f) {
            saveFailed(f);
        } catch (ProfileJson.InvalidProfileException e) {
            saveFailed(new CallFailure(FailureKind.INVALID_INPUT, 0, e.getMessage()));
        } catch (RuntimeException e) {
            saveFailed(new CallFailure(FailureKind.CONNECTION, 0, "unexpected " + e));
        }
    }

    /** A snapshot of the counters. */
    public Stats stats() {
        return counters.snapshot(async == null ? 0 : async.queued(), failedLookups.size());
    }

    /**
     * In async mode, stops taking saves and sends those queued, waiting at
     * most the close timeout; saves still queued then are counted as dropped.
     * Nothing to do in synchronous mode. Idempotent.
     */
    @Override
    public void close() {
        if (async != null) {
            int dropped = async.close(closeTimeout);
            for (int i = 0; i < dropped; i++) {
                saveFailed(new CallFailure(FailureKind.DROPPED, 0, "the client closed before the save was sent"));
            }
        }
    }

    /** One save as it goes over the wire. */
    record PendingSave(String json, boolean onlyNew) {
    }

    void sendSave(PendingSave save) throws CallFailure {
        byte[] body = call(save.onlyNew() ? saveOnlyNewUri : saveUri, save.json());
        try {
            ProfileJson.SaveResult r = ProfileJson.parseSaveResult(body);
            counters.entriesWritten.add(r.written());
            counters.entriesUnchanged.add(r.unchanged());
            counters.entriesLost.add(r.lost());
        } catch (ProfileJson.BadResponseException e) {
            // The save was taken (2xx); only its counts are unknown.
            log.warn("save answer", "a save was answered 2xx with a body that is not its counts: " + e.getMessage());
        }
    }

    /**
     * POSTs the JSON and returns the 2xx answer's body, all within the
     * timeout. The request's own timeout stops the JDK waiting for the
     * headers (and for connecting) but not always for a body that stalls
     * after them, so the caller waits on the future with the same deadline.
     * A kept-alive connection that the server had closed fails at once: that
     * one call is sent again on a new connection, within what is left of the
     * timeout (both routes are idempotent).
     */
    private byte[] call(URI uri, String json) throws CallFailure {
        long deadline = System.nanoTime() + timeout.toNanos();
        for (int attempt = 0; ; attempt++) {
            long left = attempt == 0 ? timeout.toNanos() : deadline - System.nanoTime();
            HttpRequest.Builder rb = HttpRequest.newBuilder(uri)
                    .timeout(Duration.ofNanos(left))
                    .header("Content-Type", "application/json")
                    .header("Accept", "application/json")
                    .header("User-Agent", USER_AGENT)
                    .POST(HttpRequest.BodyPublishers.ofString(json));
            if (authorization != null) {
                rb.header("Authorization", authorization);
            }
            CompletableFuture<HttpResponse<byte[]>> future = http.sendAsync(rb.build(), HttpResponse.BodyHandlers.ofByteArray());
            HttpResponse<byte[]> response;
            try {
                response = future.get(left, TimeUnit.NANOSECONDS);
            } catch (TimeoutException e) {
                future.cancel(true);
                throw new CallFailure(FailureKind.TIMEOUT, 0, "no answer within " + timeout.toMillis() + " ms");
            } catch (InterruptedException e) {
                future.cancel(true);
                Thread.currentThread().interrupt();
                throw new CallFailure(FailureKind.INTERRUPTED, 0, "interrupted while waiting for the server");
            } catch (ExecutionException e) {
                Throwable cause = e.getCause();
                while (cause instanceof CompletionException && cause.getCause() != null) {
                    cause = cause.getCause();
                }
                if (!(cause instanceof IOException io)) {
                    throw new CallFailure(FailureKind.CONNECTION, 0, "request failed: " + cause);
                }
                CallFailure f = transportFailure(io);
                boolean staleConnection = f.kind == FailureKind.CONNECTION && !(io instanceof ConnectException);
                if (attempt == 0 && staleConnection && deadline - System.nanoTime() > MIN_RETRY_NANOS) {
                    continue;
                }
                throw f;
            }
            int status = response.statusCode();
            if (status / 100 != 2) {
                throw new CallFailure(FailureKind.HTTP_STATUS, status, "HTTP " + status + errorOf(response.body()));
            }
            return response.body();
        }
    }

    private CallFailure transportFailure(IOException cause) {
        if (cause instanceof HttpTimeoutException) {
            return new CallFailure(FailureKind.TIMEOUT, 0, "no answer within " + timeout.toMillis() + " ms");
        }
        if (cause instanceof ConnectException) {
            return new CallFailure(FailureKind.CONNECTION, 0, "cannot connect: "
                    + (cause.getMessage() != null ? cause.getMessage() : cause.getClass().getSimpleName()));
        }
        return new CallFailure(FailureKind.CONNECTION, 0, "connection failed: " + cause);
    }

    /** The server's {"error": "..."}, shortened, for the log line. */
    private static String errorOf(byte[] body) {
        if (body == null || body.length == 0) {
            return "";
        }
        String s = new String(body, 0, Math.min(body.length, 200), java.nio.charset.StandardCharsets.UTF_8).strip();
        return ": " + s;
    }

    private void lookupFailed(CallFailure f, String userId) {
        if (userId != null && f.kind != FailureKind.INVALID_INPUT) {
            failedLookups.failed(userId);
        }
        counters.lookupFailed(f.kind, f.status);
        log.warn("lookup " + f.kindKey(), "lookup failed, deciding without a profile: " + f.getMessage());
    }

    private void saveFailed(CallFailure f) {
        counters.saveFailed(f.kind, f.status);
        log.warn("save " + f.kindKey(), "save failed, the assignment is not stored: " + f.getMessage());
    }

    /** A call that gave no usable answer. */
    static final class CallFailure extends Exception {
        private static final long serialVersionUID = 1L;
        final FailureKind kind;
        final int status;

        CallFailure(FailureKind kind, int status, String message) {
            super(message, null, false, false);
            this.kind = kind;
            this.status = status;
        }

        /** The key rate-limited logging groups by: the kind, and the status for HTTP errors. */
        String kindKey() {
            return status > 0 ? kind.name() + " " + status : kind.name();
        }

        /** Worth another attempt: the server may answer next time. */
        boolean retryable() {
            return switch (kind) {
                case TIMEOUT, CONNECTION -> true;
                case HTTP_STATUS -> status >= 500 || status == 429;
                default -> false;
            };
        }
    }

    /** Options of {@link StickyBucketUserProfileService}; every one has a default but the base URL. */
    public static final class Builder {
        private final URI baseUrl;
        private String token;
        private Duration timeout = Duration.ofMillis(200);
        private HttpClient httpClient;
        private int failedLookupCapacity = 100_000;
        private Duration failedLookupTtl = Duration.ofSeconds(60);
        private Duration logInterval = Duration.ofSeconds(10);
        private Logger logger = LoggerFactory.getLogger(StickyBucketUserProfileService.class);
        private int asyncQueueCapacity;
        private int saveRetries = 2;
        private Duration retryBackoff = Duration.ofMillis(50);
        private Duration closeTimeout = Duration.ofSeconds(2);
        private LongSupplier clock = System::nanoTime;

        private Builder(URI baseUrl) {
            String scheme = baseUrl.getScheme();
            if (!"http".equalsIgnoreCase(scheme) && !"https".equalsIgnoreCase(scheme)) {
                throw new IllegalArgumentException("baseUrl must be http:// or https://, not " + baseUrl);
            }
            if (baseUrl.getHost() == null || baseUrl.getRawQuery() != null || baseUrl.getRawFragment() != null) {
                throw new IllegalArgumentException("baseUrl must be scheme://host[:port][/path], not " + baseUrl);
            }
            this.baseUrl = baseUrl;
        }

        /** The bearer token the server was given (STICKYBUCKET_API_TOKENS); none by default. */
        public Builder token(String token) {
            this.token = token == null || token.isEmpty() ? null : token;
            return this;
        }

        /** The longest a lookup or a save may take, connecting included; 200 ms by default. */
        public Builder timeout(Duration timeout) {
            this.timeout = positive(timeout, "timeout");
            return this;
        }

        /**
         * The HttpClient to use (for TLS settings, a proxy, an executor). By
         * default, one of its own: HTTP/1.1 with keep-alive, connect timeout
         * equal to the timeout, no redirects.
         */
        public Builder httpClient(HttpClient httpClient) {
            this.httpClient = Objects.requireNonNull(httpClient, "httpClient");
            return this;
        }

        /** How many users with a failed lookup to remember at most; 100,000 by default, 0 turns it off. */
        public Builder failedLookupCapacity(int capacity) {
            if (capacity < 0) {
                throw new IllegalArgumentException("failedLookupCapacity must be >= 0");
            }
            this.failedLookupCapacity = capacity;
            return this;
        }

        /** How long to remember a user's failed lookup; 60 s by default. */
        public Builder failedLookupTtl(Duration ttl) {
            this.failedLookupTtl = positive(ttl, "failedLookupTtl");
            return this;
        }

        /** At most one log line per this interval for each kind of failure; 10 s by default. */
        public Builder logInterval(Duration interval) {
            this.logInterval = Objects.requireNonNull(interval, "logInterval");
            if (interval.isNegative()) {
                throw new IllegalArgumentException("logInterval must not be negative");
            }
            return this;
        }

        /** The SLF4J logger for failures; this class's by default. */
        public Builder logger(Logger logger) {
            this.logger = Objects.requireNonNull(logger, "logger");
            return this;
        }

        /**
         * Saves go to a queue of this capacity and one background thread sends
         * them, with retries; {@code save} then never waits for the server. A
         * save that finds the queue full is dropped and counted. Off (0) by
         * default: saves are sent on the SDK's thread.
         */
        public Builder asyncSaves(int queueCapacity) {
            if (queueCapacity < 0) {
                throw new IllegalArgumentException("asyncSaves queue capacity must be >= 0");
            }
            this.asyncQueueCapacity = queueCapacity;
            return this;
        }

        /** Async mode: further attempts of a save after a timeout, connection error, 5xx or 429; 2 by default. */
        public Builder saveRetries(int retries) {
            if (retries < 0) {
                throw new IllegalArgumentException("saveRetries must be >= 0");
            }
            this.saveRetries = retries;
            return this;
        }

        /** Async mode: the wait before the first retry, doubled for each next one; 50 ms by default. */
        public Builder retryBackoff(Duration backoff) {
            this.retryBackoff = Objects.requireNonNull(backoff, "retryBackoff");
            return this;
        }

        /** Async mode: how long {@code close()} may take to send what is queued; 2 s by default. */
        public Builder closeTimeout(Duration closeTimeout) {
            this.closeTimeout = Objects.requireNonNull(closeTimeout, "closeTimeout");
            return this;
        }

        /** For tests: the clock (in nanoseconds) of the failed-lookup TTL and of log intervals. */
        Builder clock(LongSupplier clock) {
            this.clock = Objects.requireNonNull(clock, "clock");
            return this;
        }

        public StickyBucketUserProfileService build() {
            return new StickyBucketUserProfileService(this);
        }

        private static Duration positive(Duration d, String name) {
            Objects.requireNonNull(d, name);
            if (d.isZero() || d.isNegative()) {
                throw new IllegalArgumentException(name + " must be positive");
            }
            return d;
        }
    }
}
