package io.supabase.gotruesession.android

import android.content.Context
import android.net.ConnectivityManager
import android.net.Network
import android.net.NetworkCapabilities
import androidx.lifecycle.DefaultLifecycleObserver
import androidx.lifecycle.LifecycleOwner
import androidx.lifecycle.ProcessLifecycleOwner
import io.supabase.gotruesession.AuthClient
import io.supabase.gotruesession.Lifecycle
import io.supabase.gotruesession.Reachability

/**
 * Tells [client] when the app goes to the foreground or background (no auto refresh in the
 * background, as auth-js's `startAutoRefresh`/`stopAutoRefresh` on visibility changes) and when
 * the network comes or goes. Call once, from the main thread (Android; source only, not built
 * by this repository's CI). Returns a function that stops both.
 */
fun bindPlatformSignals(
    client: AuthClient,
    context: Context,
): () -> Unit {
    val lifecycle = ProcessLifecycleOwner.get().lifecycle
    val observer =
        object : DefaultLifecycleObserver {
            override fun onStart(owner: LifecycleOwner) = client.setLifecycle(Lifecycle.FOREGROUND)

            override fun onStop(owner: LifecycleOwner) = client.setLifecycle(Lifecycle.BACKGROUND)
        }
    lifecycle.addObserver(observer)

    val connectivity = context.applicationContext.getSystemService(ConnectivityManager::class.java)
    val callback =
        object : ConnectivityManager.NetworkCallback() {
            override fun onCapabilitiesChanged(
                network: Network,
                capabilities: NetworkCapabilities,
            ) {
                if (capabilities.hasCapability(NetworkCapabilities.NET_CAPABILITY_VALIDATED)) {
                    client.setReachability(Reachability.ONLINE)
                }
            }

            override fun onLost(network: Network) {
                if (connectivity.activeNetwork == null) client.setReachability(Reachability.OFFLINE)
            }
        }
    connectivity.registerDefaultNetworkCallback(callback)

    return {
        lifecycle.removeObserver(observer)
        connectivity.unregisterNetworkCallback(callback)
    }
}
