package io.stickybucket.client;

import java.util.Map;

/**
 * A snapshot of the client's counters since it was built, from
 * {@link StickyBucketUserProfileService#stats()}. Every count only grows,
 * except {@link #queued()} and {@link #usersWithFailedLookup()}, which are
 * the sizes at the time of the snapshot.
 *
 * @param lookups               calls of {@code lookup} by the SDK
 * @param lookupFailures        lookups that returned no profile because of a failure
 * @param lookupFailuresByKind  {@code lookupFailures} split by kind (kinds with no failure are absent)
 * @param saves                 calls of {@code save} by the SDK
 * @param savesOnlyNew          saves sent (or queued) with {@code ?only_new=true}, after a failed lookup
 * @param saveFailures          saves that did not reach the store, drops included
 * @param saveFailuresByKind    {@code saveFailures} split by kind ({@link FailureKind#DROPPED} for the async queue)
 * @param saveRetries           repeated attempts of asynchronous saves
 * @param entriesWritten        experiment entries the server reported written
 * @param entriesUnchanged      experiment entries the server reported already stored as sent
 * @param entriesLost           experiment entries the server kept another writer's value for
 * @param httpStatuses          non-2xx answers by HTTP status, lookups and saves together
 * @param queued                saves waiting in the async queue now (0 in synchronous mode)
 * @param usersWithFailedLookup users remembered now as having had a failed lookup
 */
public record Stats(
        long lookups,
        long lookupFailures,
        Map<FailureKind, Long> lookupFailuresByKind,
        long saves,
        long savesOnlyNew,
        long saveFailures,
        Map<FailureKind, Long> saveFailuresByKind,
        long saveRetries,
        long entriesWritten,
        long entriesUnchanged,
        long entriesLost,
        Map<Integer, Long> httpStatuses,
        int queued,
        int usersWithFailedLookup) {

    public Stats {
        lookupFailuresByKind = Map.copyOf(lookupFailuresByKind);
        saveFailuresByKind = Map.copyOf(saveFailuresByKind);
        httpStatuses = Map.copyOf(httpStatuses);
    }

    /** Lookups that failed with this kind. */
    public long lookupFailures(FailureKind kind) {
        return lookupFailuresByKind.getOrDefault(kind, 0L);
    }

    /** Saves that failed with this kind. */
    public long saveFailures(FailureKind kind) {
        return saveFailuresByKind.getOrDefault(kind, 0L);
    }

    /** Asynchronous saves dropped: the queue was full, or the client closed before they were sent. */
    public long savesDropped() {
        return saveFailures(FailureKind.DROPPED);
    }
}
