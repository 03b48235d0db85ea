package io.stickybucket.client;

/** Why a call to the stickybucket server did not give a usable answer. */
public enum FailureKind {
    /** No complete answer within the client's timeout (connecting included). */
    TIMEOUT,
    /** The connection could not be made or broke (refused, reset, closed early). */
    CONNECTION,
    /** The server answered with a status other than 2xx; see {@link Stats#httpStatuses()}. */
    HTTP_STATUS,
    /** A 2xx answer whose body is not the JSON the route promises. */
    BAD_RESPONSE,
    /** The profile given cannot be sent (empty user ID, a map not in the SDK's schema). */
    INVALID_INPUT,
    /** An asynchronous save that found the queue full or the client closed. */
    DROPPED,
    /** The calling thread was interrupted while it waited (its interrupt flag is kept). */
    INTERRUPTED
}
