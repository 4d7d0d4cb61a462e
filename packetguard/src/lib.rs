//! PacketGuard agent library.
