package io.stickybucket.client;

import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;
import org.slf4j.Logger;

/**
 * Logs at most one line per interval for each kind of failure, and says in
 * that line how many of the same kind were left out since the last one.
 */
final class RateLimitedLog {
    private static final class Window {
        boolean logged;
        long lastNanos;
        long suppressed;
    }

    private final Logger logger;
    private final long intervalNanos;
    private final LongSupplier clock;
    private final ConcurrentHashMap<String, Window> windows = new ConcurrentHashMap<>();

    RateLimitedLog(Logger logger, long intervalNanos, LongSupplier clock) {
        this.logger = logger;
        this.intervalNanos = intervalNanos;
        this.clock = clock;
    }

    /** Logs a warning for this kind of failure unless one was logged within the interval. */
    void warn(String kind, String message) {
        if (!logger.isWarnEnabled()) {
            return;
        }
        Window w = windows.computeIfAbsent(kind, k -> new Window());
        long now = clock.getAsLong();
        long suppressed;
        synchronized (w) {
            if (w.logged && now - w.lastNanos < intervalNanos) {
                w.suppressed++;
                return;
            }
            suppressed = w.suppressed;
            w.suppressed = 0;
            w.logged = true;
            w.lastNanos = now;
        }
        try {
            if (suppressed == 0) {
                logger.warn("stickybucket: {}", message);
            } else {
                logger.warn("stickybucket: {} ({} more of this kind not logged since the last line)", message, suppressed);
            }
        } catch (RuntimeException e) {
            // A failing logger must not make the client throw into the SDK.
        }
    }
}
