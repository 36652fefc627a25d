package io.supabase.gotruesession

import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow

/**
 * The client's auth events as a cold [Flow]: each collector gets its own subscription, in order,
 * starting with INITIAL_SESSION when the client is already initialized. Collection never drops an
 * event (the buffer is unbounded), stops delivery when it is cancelled, and completes when the
 * client shuts down.
 *
 * The subscription starts when collection does, asynchronously: to see the events of a call for
 * sure, start collecting first and wait for the first event (INITIAL_SESSION, once initialized),
 * or use [AuthClient.subscribe] with a listener, which is registered when it returns.
 */
fun AuthClient.events(): Flow<AuthEvent> =
    callbackFlow {
        val subscription =
            subscribe(
                object : AuthEventListener {
                    override fun onEvent(event: AuthEvent) {
                        trySend(event)
                    }

                    override fun onEnd() {
                        channel.close()
                    }
                },
            )
        awaitClose {
            subscription.cancel()
            subscription.close()
        }
    }.buffer(Channel.UNLIMITED)
