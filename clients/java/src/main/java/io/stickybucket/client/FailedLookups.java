package io.stickybucket.client;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * Users whose lookup failed lately, so that their saves go with
 * {@code ?only_new=true}: the SDK bucketed them without knowing what the
 * store holds, and that guess must not overwrite a stored variation.
 *
 * <p>Bounded in size (the oldest entry goes first) and in time (an entry
 * older than the TTL is ignored and dropped). A successful lookup forgets
 * the user only if the failure was recorded on the same thread: the SDK
 * calls lookup and then save on the caller's thread, so a success there
 * means that thread's earlier decision is over, while a decision of another
 * thread that saw the failure may still be about to save.
 */
final class FailedLookups {
    private record Mark(long atNanos, long threadId) {
    }

    private final int capacity;
    private final long ttlNanos;
    private final LongSupplier clock;
    private final LinkedHashMap<String, Mark> marks = new LinkedHashMap<>();
    /** Read without the lock so that the healthy path takes none. */
    private volatile int size;

    FailedLookups(int capacity, long ttlNanos, LongSupplier clock) {
        this.capacity = capacity;
        this.ttlNanos = ttlNanos;
        this.clock = clock;
    }

    void failed(String userId) {
        if (capacity <= 0) {
            return;
        }
        long now = clock.getAsLong();
        synchronized (marks) {
            marks.remove(userId);
            marks.put(userId, new Mark(now, Thread.currentThread().getId()));
            expire(now);
            while (marks.size() > capacity) {
                Iterator<String> it = marks.keySet().iterator();
                it.next();
                it.remove();
            }
            size = marks.size();
        }
    }

    void succeeded(String userId) {
        if (size == 0) {
            return;
        }
        synchronized (marks) {
            Mark m = marks.get(userId);
            if (m != null && m.threadId() == Thread.currentThread().getId()) {
                marks.remove(userId);
            }
            size = marks.size();
        }
    }

    /** Whether a save of this user must only add experiments the store lacks. */
    boolean onlyNew(String userId) {
        if (size == 0) {
            return false;
        }
        long now = clock.getAsLong();
        synchronized (marks) {
            expire(now);
            size = marks.size();
            return marks.containsKey(userId);
        }
    }

    int size() {
        if (size == 0) {
            return 0;
        }
        synchronized (marks) {
            expire(clock.getAsLong());
            size = marks.size();
            return size;
        }
    }

    /** Drops expired entries; insertion order is age order, so they are at the head. */
    private void expire(long now) {
        Iterator<Map.Entry<String, Mark>> it = marks.entrySet().iterator();
        while (it.hasNext()) {
            if (now - it.next().getValue().atNanos() < ttlNanos) {
                return;
            }
            it.remove();
        }
    }
}
