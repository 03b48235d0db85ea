package io.stickybucket.client;

import java.lang.reflect.Proxy;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.slf4j.Logger;
import org.slf4j.helpers.MessageFormatter;

/** An SLF4J logger that keeps its WARN lines, made as a proxy of the interface. */
final class RecordingLogger {
    private RecordingLogger() {
    }

    static Logger of(List<String> lines) {
        return (Logger) Proxy.newProxyInstance(Logger.class.getClassLoader(), new Class<?>[] {Logger.class}, (proxy, m, args) -> {
            switch (m.getName()) {
                case "getName", "toString":
                    return "recording";
                case "hashCode":
                    return System.identityHashCode(proxy);
                case "equals":
                    return proxy == args[0];
                case "isWarnEnabled":
                    return args == null || args.length == 0;
                case "warn":
                    if (args[0] instanceof String format) {
                        Object[] rest = args.length == 2 && args[1] instanceof Object[] a ? a : Arrays.copyOfRange(args, 1, args.length);
                        lines.add(MessageFormatter.arrayFormat(format, rest).getMessage());
                    }
                    return null;
                default:
                    return m.getReturnType() == boolean.class ? false : null;
            }
        });
    }

    static List<String> lines() {
        return new CopyOnWriteArrayList<>();
    }
}
