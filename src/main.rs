/// mimalloc instead of the C library's allocator: the release image links musl statically, and
/// musl's allocator is slow under the many small allocations a sync makes across threads
/// (`bench-results/` measures the difference).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    pbconnector::cli::main()
}
