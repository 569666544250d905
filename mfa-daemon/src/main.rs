fn main() -> std::process::ExitCode {
    return_large_buffers_to_the_os();
    mfa_daemon::cli::main()
}

/// argon2 needs 19 MiB per hash. glibc raises its mmap threshold once the first such buffer is
/// freed, after which later ones come from per-thread arenas and stay resident: measured, the
/// daemon grew by about 58 MB with every enrollment and never shrank. A fixed threshold keeps
/// every buffer of 1 MiB or more in its own mapping, returned to the OS when freed.
fn return_large_buffers_to_the_os() {
    // SAFETY: mallopt only tunes the allocator and is called before any other thread exists,
    // so nothing allocates concurrently; an unsupported value is ignored (returns 0).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
