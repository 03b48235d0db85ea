package io.stickybucket.client;

import java.util.EnumMap;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/** The live counters behind {@link Stats}. */
final class Counters {
    final LongAdder lookups = new LongAdder();
    final LongAdder saves = new LongAdder();
    final LongAdder savesOnlyNew = new LongAdder();
    final LongAdder saveRetries = new LongAdder();
    final LongAdder entriesWritten = new LongAdder();
    final LongAdder entriesUnchanged = new LongAdder();
    final LongAdder entriesLost = new LongAdder();
    private final EnumMap<FailureKind, LongAdder> lookupFailures = adders();
    private final EnumMap<FailureKind, LongAdder> saveFailures = adders();
    private final ConcurrentHashMap<Integer, LongAdder> statuses = new ConcurrentHashMap<>();

    private static EnumMap<FailureKind, LongAdder> adders() {
        EnumMap<FailureKind, LongAdder> m = new EnumMap<>(FailureKind.class);
        for (FailureKind k : FailureKind.values()) {
            m.put(k, new LongAdder());
        }
        return m;
    }

    void lookupFailed(FailureKind kind, int status) {
        lookupFailures.get(kind).increment();
        status(status);
    }

    void saveFailed(FailureKind kind, int status) {
        saveFailures.get(kind).increment();
        status(status);
    }

    private void status(int status) {
        if (status > 0) {
            statuses.computeIfAbsent(status, s -> new LongAdder()).increment();
        }
    }

    Stats snapshot(int queued, int usersWithFailedLookup) {
        Map<FailureKind, Long> lf = sums(lookupFailures);
        Map<FailureKind, Long> sf = sums(saveFailures);
        Map<Integer, Long> st = new HashMap<>();
        statuses.forEach((k, v) -> st.put(k, v.sum()));
        return new Stats(lookups.sum(), total(lf), lf, saves.sum(), savesOnlyNew.sum(), total(sf), sf,
                saveRetries.sum(), entriesWritten.sum(), entriesUnchanged.sum(), entriesLost.sum(), st,
                queued, usersWithFailedLookup);
    }

    private static Map<FailureKind, Long> sums(EnumMap<FailureKind, LongAdder> adders) {
        Map<FailureKind, Long> m = new EnumMap<>(FailureKind.class);
        adders.forEach((k, v) -> {
            long n = v.sum();
            if (n != 0) {
                m.put(k, n);
            }
        });
        return m;
    }

    private static long total(Map<FailureKind, Long> m) {
        long n = 0;
        for (long v : m.values()) {
            n += v;
        }
        return n;
    }
}
