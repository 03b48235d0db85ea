package io.stickybucket.client;

import com.optimizely.ab.bucketing.UserProfileService;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The reference profile service: profiles in a map, copied in and out so
 * that neither side shares the other's objects (as over the wire).
 */
final class MapUserProfileService implements UserProfileService {
    final Map<String, Map<String, String>> profiles = new ConcurrentHashMap<>();

    @Override
    public Map<String, Object> lookup(String userId) {
        Map<String, String> stored = profiles.get(userId);
        if (stored == null) {
            return null;
        }
        Map<String, Map<String, String>> buckets = new HashMap<>();
        stored.forEach((exp, var) -> buckets.put(exp, new HashMap<>(Map.of(variationIdKey, var))));
        Map<String, Object> profile = new HashMap<>();
        profile.put(userIdKey, userId);
        profile.put(experimentBucketMapKey, buckets);
        return profile;
    }

    @Override
    @SuppressWarnings("unchecked")
    public void save(Map<String, Object> userProfile) {
        Map<String, String> flat = new HashMap<>();
        ((Map<String, Map<String, String>>) userProfile.get(experimentBucketMapKey))
                .forEach((exp, d) -> flat.put(exp, d.get(variationIdKey)));
        profiles.put((String) userProfile.get(userIdKey), flat);
    }
}
