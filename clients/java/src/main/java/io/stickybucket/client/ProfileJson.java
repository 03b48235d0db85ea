package io.stickybucket.client;

import com.google.gson.Strictness;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import com.google.gson.stream.JsonWriter;
import com.optimizely.ab.bucketing.UserProfileService;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.ByteArrayInputStream;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

/**
 * The JSON of the /v1/ups routes, in the SDK's own schema, read and written
 * with Gson's streaming API in strict mode.
 */
final class ProfileJson {
    private ProfileJson() {
    }

    /** A 2xx answer that is not what the route promises. */
    static final class BadResponseException extends Exception {
        private static final long serialVersionUID = 1L;

        BadResponseException(String message) {
            super(message);
        }
    }

    /** A profile from the SDK that cannot be sent. */
    static final class InvalidProfileException extends Exception {
        private static final long serialVersionUID = 1L;

        InvalidProfileException(String message) {
            super(message);
        }
    }

    /** A profile ready to send: its user and its JSON body. */
    record SaveBody(String userId, String json) {
    }

    /** The counts a save answers with. */
    record SaveResult(long written, long unchanged, long lost) {
    }

    static String lookupBody(String userId) {
        StringWriter out = new StringWriter(userId.length() + 16);
        try (JsonWriter w = new JsonWriter(out)) {
            w.beginObject().name(UserProfileService.userIdKey).value(userId).endObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toString();
    }

    /**
     * Reads {"user_id", "experiment_bucket_map": {id: {"variation_id"}}} into the
     * map the SDK expects from {@link UserProfileService#lookup}.
     */
    static Map<String, Object> parseProfile(byte[] body, String expectedUserId) throws BadResponseException {
        String userId = null;
        Map<String, Map<String, String>> buckets = null;
        try (JsonReader r = reader(body)) {
            r.beginObject();
            while (r.hasNext()) {
                String name = r.nextName();
                if (name.equals(UserProfileService.userIdKey)) {
                    userId = string(r, "user_id");
                } else if (name.equals(UserProfileService.experimentBucketMapKey)) {
                    buckets = readBuckets(r);
                } else {
                    r.skipValue();
                }
            }
            r.endObject();
            if (r.peek() != JsonToken.END_DOCUMENT) {
                throw new BadResponseException("data after the JSON object");
            }
        } catch (IOException | IllegalStateException e) {
            // Gson throws MalformedJsonException (an IOException) for bad syntax
            // and IllegalStateException for a token of the wrong type.
            throw new BadResponseException("invalid JSON: " + e.getMessage());
        }
        if (userId == null || buckets == null) {
            throw new BadResponseException("missing \"user_id\" or \"experiment_bucket_map\"");
        }
        if (!userId.equals(expectedUserId)) {
            throw new BadResponseException("the answer is for another user");
        }
        Map<String, Object> profile = new HashMap<>(4);
        profile.put(UserProfileService.userIdKey, userId);
        profile.put(UserProfileService.experimentBucketMapKey, buckets);
        return profile;
    }

    private static Map<String, Map<String, String>> readBuckets(JsonReader r) throws IOException, BadResponseException {
        Map<String, Map<String, String>> buckets = new HashMap<>();
        r.beginObject();
        while (r.hasNext()) {
            String experimentId = r.nextName();
            String variationId = null;
            r.beginObject();
            while (r.hasNext()) {
                if (r.nextName().equals(UserProfileService.variationIdKey)) {
                    variationId = string(r, "variation_id");
                } else {
                    r.skipValue();
                }
            }
            r.endObject();
            if (variationId == null) {
                throw new BadResponseException("an entry of \"experiment_bucket_map\" has no \"variation_id\"");
            }
            Map<String, String> decision = new HashMap<>(2);
            decision.put(UserProfileService.variationIdKey, variationId);
            buckets.put(experimentId, decision);
        }
        r.endObject();
        return buckets;
    }

    private static String string(JsonReader r, String what) throws IOException, BadResponseException {
        if (r.peek() != JsonToken.STRING) {
            throw new BadResponseException("\"" + what + "\" is not a string");
        }
        return r.nextString();
    }

    /** Reads {"written", "unchanged", "lost"}; absent counts are 0. */
    static SaveResult parseSaveResult(byte[] body) throws BadResponseException {
        long written = 0;
        long unchanged = 0;
        long lost = 0;
        try (JsonReader r = reader(body)) {
            r.beginObject();
            while (r.hasNext()) {
                switch (r.nextName()) {
                    case "written" -> written = r.nextLong();
                    case "unchanged" -> unchanged = r.nextLong();
                    case "lost" -> lost = r.nextLong();
                    default -> r.skipValue();
                }
            }
            r.endObject();
        } catch (IOException | IllegalStateException | NumberFormatException e) {
            throw new BadResponseException("invalid JSON: " + e.getMessage());
        }
        return new SaveResult(written, unchanged, lost);
    }

    /**
     * Writes the SDK's profile map (as {@code UserProfile.toMap()} makes it)
     * as the body of /v1/ups/save, checking its shape on the way.
     */
    static SaveBody saveBody(Map<String, Object> profile) throws InvalidProfileException {
        if (profile == null) {
            throw new InvalidProfileException("the profile is null");
        }
        if (!(profile.get(UserProfileService.userIdKey) instanceof String userId) || userId.isEmpty()) {
            throw new InvalidProfileException("\"user_id\" is missing, empty or not a string");
        }
        if (!isWellFormed(userId)) {
            throw new InvalidProfileException("\"user_id\" is not well-formed UTF-16 (a lone surrogate)");
        }
        if (!(profile.get(UserProfileService.experimentBucketMapKey) instanceof Map<?, ?> buckets)) {
            throw new InvalidProfileException("\"experiment_bucket_map\" is missing or not a map");
        }
        StringWriter out = new StringWriter(64 + 48 * buckets.size());
        try (JsonWriter w = new JsonWriter(out)) {
            w.beginObject().name(UserProfileService.userIdKey).value(userId);
            w.name(UserProfileService.experimentBucketMapKey).beginObject();
            for (Map.Entry<?, ?> e : buckets.entrySet()) {
                if (!(e.getKey() instanceof String experimentId)
                        || !(e.getValue() instanceof Map<?, ?> decision)
                        || !(decision.get(UserProfileService.variationIdKey) instanceof String variationId)) {
                    throw new InvalidProfileException(
                            "an entry of \"experiment_bucket_map\" is not {\"<experiment id>\": {\"variation_id\": \"<id>\"}}");
                }
                w.name(experimentId).beginObject().name(UserProfileService.variationIdKey).value(variationId).endObject();
            }
            w.endObject().endObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return new SaveBody(userId, out.toString());
    }

    /**
     * Whether the string has no lone surrogate. One would be sent as "?" in
     * UTF-8, so two different users could share a stored profile.
     */
    static boolean isWellFormed(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                return false;
            }
        }
        return true;
    }

    private static JsonReader reader(byte[] body) {
        JsonReader r = new JsonReader(new InputStreamReader(new ByteArrayInputStream(body), StandardCharsets.UTF_8));
        r.setStrictness(Strictness.STRICT);
        return r;
    }
}
