package io.stickybucket.client;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/** One clients/testdata/sticky/seed-*.json fixture. */
record Fixture(String name, String datafileV1, String datafileV2, List<User> users,
               List<String> flagsV1, List<String> flagsV2, List<String> experimentsV1, List<String> experimentsV2,
               List<String> notes) {

    /** A fixture's user; {@code attributes} is null when the fixture has none. */
    record User(String id, Map<String, Object> attributes) {
    }

    private static final Gson GSON = new GsonBuilder().disableHtmlEscaping().serializeNulls().create();

    static List<Path> all() throws IOException {
        try (Stream<Path> s = Files.list(ServeProcess.repoRoot().resolve("clients/testdata/sticky"))) {
            return s.filter(p -> p.getFileName().toString().matches("seed-.*\\.json")).sorted().toList();
        }
    }

    static Fixture load(Path path) throws IOException {
        JsonObject o = JsonParser.parseString(Files.readString(path)).getAsJsonObject();
        List<User> users = new ArrayList<>();
        for (JsonElement u : o.getAsJsonArray("users")) {
            JsonObject uo = u.getAsJsonObject();
            JsonElement attrs = uo.get("attributes");
            @SuppressWarnings("unchecked")
            Map<String, Object> m = attrs == null || attrs.isJsonNull() ? null : (Map<String, Object>) toJava(attrs);
            users.add(new User(uo.get("user_id").getAsString(), m));
        }
        List<String> notes = new ArrayList<>();
        return new Fixture(path.getFileName().toString(),
                datafile(o.getAsJsonObject("datafile_v1"), "datafile_v1", notes),
                datafile(o.getAsJsonObject("datafile_v2"), "datafile_v2", notes),
                users, strings(o.getAsJsonArray("flags_v1")), strings(o.getAsJsonArray("flags_v2")),
                strings(o.getAsJsonArray("experiments_v1")), strings(o.getAsJsonArray("experiments_v2")), List.copyOf(notes));
    }

    /** The datafile as it is in the fixture, nulls included. */
    static String verbatim(Path path, String which) throws IOException {
        return GSON.toJson(JsonParser.parseString(Files.readString(path)).getAsJsonObject().get(which));
    }

    /**
     * The datafile as the SDKs are given it here. The generator once wrote
     * Go's nil slice as {@code "groups": null} (seed-104's datafile_v1),
     * which Optimizely never serves and the Java SDK rejects (its Gson parser
     * calls getAsJsonArray on it); such a list gets {@code []}, for both
     * sides of the comparison alike, with a note. Nothing else is changed.
     */
    private static String datafile(JsonObject df, String which, List<String> notes) {
        JsonObject copy = df.deepCopy();
        for (String list : List.of("groups", "experiments", "featureFlags", "rollouts", "audiences",
                "typedAudiences", "attributes", "events", "integrations")) {
            if (copy.has(list) && copy.get(list).isJsonNull()) {
                copy.add(list, new JsonArray());
                notes.add(which + ": \"" + list + "\": null given as [] (the Java SDK rejects null)");
            }
        }
        return GSON.toJson(copy);
    }

    private static List<String> strings(JsonArray a) {
        List<String> out = new ArrayList<>();
        a.forEach(e -> out.add(e.getAsString()));
        return out;
    }

    /**
     * JSON to what an application would pass as attribute values: Integer
     * (Long when larger) for integral numbers, Double for the others, and
     * String, Boolean, null, List and Map as they are.
     */
    static Object toJava(JsonElement e) {
        if (e == null || e.isJsonNull()) {
            return null;
        }
        if (e.isJsonObject()) {
            Map<String, Object> m = new LinkedHashMap<>();
            e.getAsJsonObject().entrySet().forEach(en -> m.put(en.getKey(), toJava(en.getValue())));
            return m;
        }
        if (e.isJsonArray()) {
            List<Object> l = new ArrayList<>();
            e.getAsJsonArray().forEach(x -> l.add(toJava(x)));
            return l;
        }
        JsonPrimitive p = e.getAsJsonPrimitive();
        if (p.isBoolean()) {
            return p.getAsBoolean();
        }
        if (p.isString()) {
            return p.getAsString();
        }
        String text = p.getAsString();
        if (text.matches("-?\\d+")) {
            BigDecimal d = new BigDecimal(text);
            try {
                return d.intValueExact();
            } catch (ArithmeticException ex) {
                return d.longValueExact();
            }
        }
        return p.getAsDouble();
    }
}
