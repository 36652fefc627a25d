#if canImport(Security)
import Foundation
import GoTrueSessionFFI
import Security

/// A `SessionStorage` in the Keychain: one generic-password item per storage key
/// (`kSecClassGenericPassword`, `kSecAttrService` = `service`, `kSecAttrAccount` = the key).
///
/// **Sharing one session between an app and its extensions** (widgets, share extensions,
/// notification services): give every target the same Keychain Sharing group in its
/// entitlements, and pass that group, with its team prefix, as `accessGroup` in each of them,
/// with the same `service`:
///
/// ```swift
/// let storage = KeychainStorage(service: "com.example.app.auth",
///                               accessGroup: "ABCDE12345.com.example.shared")
/// ```
///
/// Then call `client.storageChanged()` when a process learns that another one changed the
/// session (the extension came back, the app returned to the foreground), so it adopts it.
///
/// Items are readable after the first unlock following a restart
/// (`kSecAttrAccessibleAfterFirstUnlock`, by default), so background refreshes work while the
/// device is locked.
///
/// Failures: a missing item is "absent" (`nil`). Everything else is
/// `StorageError.Unavailable` and never "absent": in particular `errSecInteractionNotAllowed`,
/// which is what a read returns while the device has not been unlocked since it started (a
/// background launch, a prewarmed app). The client then decides nothing from the store and
/// never signs out because of it; this adapter never deletes an item it failed to read.
public final class KeychainStorage: SessionStorage {
    /// When the items can be read.
    public enum Accessibility: Sendable {
        /// After the first unlock following a restart, until the next restart
        /// (`kSecAttrAccessibleAfterFirstUnlock`); moves to a new device with an encrypted backup.
        case afterFirstUnlock
        /// The same, never leaving this device (`kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly`).
        case afterFirstUnlockThisDeviceOnly
        /// Only while the device is unlocked (`kSecAttrAccessibleWhenUnlocked`): background
        /// refreshes fail (as "unavailable") while it is locked.
        case whenUnlocked
        /// The same, never leaving this device (`kSecAttrAccessibleWhenUnlockedThisDeviceOnly`).
        case whenUnlockedThisDeviceOnly

        var attribute: CFString {
            switch self {
            case .afterFirstUnlock: return kSecAttrAccessibleAfterFirstUnlock
            case .afterFirstUnlockThisDeviceOnly: return kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
            case .whenUnlocked: return kSecAttrAccessibleWhenUnlocked
            case .whenUnlockedThisDeviceOnly: return kSecAttrAccessibleWhenUnlockedThisDeviceOnly
            }
        }
    }

    /// The service every item of this store has (`kSecAttrService`).
    public let service: String
    /// The Keychain access group shared with other targets of the same team, if any.
    public let accessGroup: String?
    /// When the items can be read.
    public let accessibility: Accessibility
    /// Whether items go to the data-protection keychain (`kSecUseDataProtectionKeychain`), as on
    /// iOS. Only macOS has another one (the file-based login keychain); access groups and
    /// accessibility classes work only with the data-protection keychain, which needs a signed
    /// app with a keychain entitlement.
    public let useDataProtectionKeychain: Bool

    /// - Parameters:
    ///   - service: `kSecAttrService` of the items. Use the same value in every target that
    ///     shares the session; do not derive it from the bundle identifier (an extension's
    ///     differs from its app's).
    ///   - accessGroup: `kSecAttrAccessGroup`, e.g. `"ABCDE12345.com.example.shared"`; `nil`
    ///     uses the target's default group (not shared).
    ///   - accessibility: when the items can be read; `.afterFirstUnlock` by default.
    ///   - useDataProtectionKeychain: see the property; `true` by default.
    public init(
        service: String = "io.supabase.gotrue-session",
        accessGroup: String? = nil,
        accessibility: Accessibility = .afterFirstUnlock,
        useDataProtectionKeychain: Bool = true
    ) {
        self.service = service
        self.accessGroup = accessGroup
        self.accessibility = accessibility
        self.useDataProtectionKeychain = useDataProtectionKeychain
    }

    public func get(key: String) throws -> String? {
        var query = baseQuery(key)
        query[kSecReturnData as String] = true
        query[kSecMatchLimit as String] = kSecMatchLimitOne
        var result: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &result)
        switch status {
        case errSecSuccess:
            guard let data = result as? Data else {
                throw StorageError.Unavailable(reason: "keychain reading: the item has no data")
            }
            return String(decoding: data, as: UTF8.self)
        case errSecItemNotFound:
            return nil
        default:
            throw Self.failure("reading", status)
        }
    }

    public func set(key: String, value: String) throws {
        let data = Data(value.utf8)
        var changes = protection
        changes[kSecValueData as String] = data
        // Update in place, add when missing: never delete first, so a failed write leaves the
        // previous session where it was.
        var status = SecItemUpdate(baseQuery(key) as CFDictionary, changes as CFDictionary)
        if status == errSecItemNotFound {
            var item = baseQuery(key)
            item.merge(changes) { _, new in new }
            status = SecItemAdd(item as CFDictionary, nil)
            if status == errSecDuplicateItem {
                // Another process (an extension) added it in between: update that one.
                status = SecItemUpdate(baseQuery(key) as CFDictionary, changes as CFDictionary)
            }
        }
        guard status == errSecSuccess else {
            throw Self.failure("writing", status)
        }
    }

    public func remove(key: String) throws {
        let status = SecItemDelete(baseQuery(key) as CFDictionary)
        guard status == errSecSuccess || status == errSecItemNotFound else {
            throw Self.failure("removing", status)
        }
    }

    /// What identifies the item of `key`.
    private func baseQuery(_ key: String) -> [String: Any] {
        var query: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccount as String: key,
        ]
        if useDataProtectionKeychain {
            query[kSecUseDataProtectionKeychain as String] = true
        }
        if let group = accessGroup, dataProtection {
            query[kSecAttrAccessGroup as String] = group
        }
        return query
    }

    /// The accessibility class, for the keychains that have one.
    private var protection: [String: Any] {
        dataProtection ? [kSecAttrAccessible as String: accessibility.attribute] : [:]
    }

    /// Whether the items live in the data-protection keychain (always, except on macOS when
    /// `useDataProtectionKeychain` is off).
    private var dataProtection: Bool {
        #if os(macOS)
        return useDataProtectionKeychain
        #else
        return true
        #endif
    }

    private static func failure(_ what: String, _ status: OSStatus) -> StorageError {
        let reason: String
        switch status {
        case errSecInteractionNotAllowed:
            reason = "the keychain cannot be read now (the device was not unlocked since it started)"
        case errSecMissingEntitlement:
            reason = "missing keychain entitlement (check the access group and the app's signing)"
        default:
            reason = (SecCopyErrorMessageString(status, nil) as String?) ?? "error"
        }
        return StorageError.Unavailable(reason: "keychain \(what): \(reason) (OSStatus \(status))")
    }
}
#endif
