package io.stickybucket.client;

import io.stickybucket.client.StickyBucketUserProfileService.CallFailure;
import io.stickybucket.client.StickyBucketUserProfileService.PendingSave;
import java.time.Duration;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * A bounded queue of saves and the one thread that sends them, retrying a
 * save that failed in a way the server may get over (timeout, connection,
 * 5xx, 429), with a doubling wait between attempts.
 */
final class AsyncSaver {
    interface Sender {
        void send(PendingSave save) throws CallFailure;
    }

    private final ArrayBlockingQueue<PendingSave> queue;
    private final int retries;
    private final long backoffNanos;
    private final Sender sender;
    private final Consumer<CallFailure> failed;
    private final Counters counters;
    private final Thread worker;
    private final Object lock = new Object();
    private volatile boolean closed;

    AsyncSaver(int capacity, int retries, Duration backoff, Sender sender, Consumer<CallFailure> failed, Counters counters) {
        this.queue = new ArrayBlockingQueue<>(capacity);
        this.retries = retries;
        this.backoffNanos = backoff.toNanos();
        this.sender = sender;
        this.failed = failed;
        this.counters = counters;
        this.worker = new Thread(this::run, "stickybucket-saver");
        this.worker.setDaemon(true);
        this.worker.start();
    }

    /** Queues the save; false if the queue is full or closed. */
    boolean offer(PendingSave save) {
        synchronized (lock) {
            return !closed && queue.offer(save);
        }
    }

    boolean isClosed() {
        return closed;
    }

    int queued() {
        return queue.size();
    }

    /**
     * Stops taking saves, lets the worker send what is queued for at most the
     * timeout, and returns how many saves were left unsent.
     */
    int close(Duration timeout) {
        synchronized (lock) {
            if (closed) {
                return 0;
            }
            closed = true;
        }
        try {
            worker.join(Math.max(1, timeout.toMillis()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (worker.isAlive()) {
            worker.interrupt();
            try {
                worker.join(1000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        int left = queue.size();
        queue.clear();
        return left;
    }

    private void run() {
        try {
            while (!(closed && queue.isEmpty())) {
                PendingSave save = queue.poll(100, TimeUnit.MILLISECONDS);
                if (save != null) {
                    sendWithRetries(save);
                }
            }
        } catch (InterruptedException e) {
            // close() ran out of time: what is still queued is counted there.
        }
    }

    private void sendWithRetries(PendingSave save) throws InterruptedException {
        for (int attempt = 0; ; attempt++) {
            try {
                sender.send(save);
                return;
            } catch (CallFailure f) {
                if (f.kind == FailureKind.INTERRUPTED) {
                    failed.accept(f);
                    throw new InterruptedException();
                }
                if (attempt >= retries || !f.retryable()) {
                    failed.accept(f);
                    return;
                }
            } catch (RuntimeException e) {
                failed.accept(new CallFailure(FailureKind.CONNECTION, 0, "unexpected " + e));
                return;
            }
            counters.saveRetries.increment();
            long wait = backoffNanos << Math.min(attempt, 10);
            if (wait > 0) {
                TimeUnit.NANOSECONDS.sleep(wait);
            }
        }
    }
}
