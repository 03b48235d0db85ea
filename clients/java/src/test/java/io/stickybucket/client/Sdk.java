package io.stickybucket.client;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.optimizely.ab.Optimizely;
import com.optimizely.ab.bucketing.UserProfileService;
import com.optimizely.ab.error.ErrorHandler;
import com.optimizely.ab.error.NoOpErrorHandler;
import com.optimizely.ab.event.EventProcessor;
import com.optimizely.ab.event.ForwardingEventProcessor;
import com.optimizely.ab.optimizelydecision.OptimizelyDecision;

/** Offline SDK instances for the tests: a no-op event handler, no ODP, no polling. */
final class Sdk {
    private Sdk() {
    }

    static Optimizely build(String datafile, UserProfileService ups) {
        return build(datafile, ups, new NoOpErrorHandler());
    }

    static Optimizely build(String datafile, UserProfileService ups, ErrorHandler errorHandler) {
        Optimizely.Builder b = Optimizely.builder()
                .withDatafile(datafile)
                .withEventProcessor(noEvents())
                .withErrorHandler(errorHandler);
        if (ups != null) {
            b.withUserProfileService(ups);
        }
        Optimizely o = b.build();
        assertTrue(o.isValid(), "the SDK rejected the datafile");
        return o;
    }

    /** Events built and handed to a handler that drops them: nothing is dispatched. */
    static EventProcessor noEvents() {
        return new ForwardingEventProcessor(logEvent -> { }, null);
    }

    /** What the comparison looks at in a decision. */
    record Decided(String flagKey, String variationKey, boolean enabled, String ruleKey) {
        static Decided of(OptimizelyDecision d) {
            return new Decided(d.getFlagKey(), d.getVariationKey(), d.getEnabled(), d.getRuleKey());
        }
    }
}
