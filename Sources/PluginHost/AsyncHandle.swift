import NIOCore
import Synchronization

/// The `gw_async` a plugin takes to resume a paused stream from any thread.
///
/// Ref-counted by the plugin (`async_acquire` / `async_release`). It refers to the
/// stream through a loop-bound box that the stream empties when it finishes, so a
/// post after that is a no-op, as the ABI promises.
final class AsyncHandle: Sendable {
    let loop: any EventLoop
    let filterIndex: Int
    let run: NIOLoopBoundBox<FilterChainRun?>
    private let alive = Atomic<Bool>(true)

    init(run: FilterChainRun, filterIndex: Int) {
        self.loop = run.loop
        self.filterIndex = filterIndex
        self.run = NIOLoopBoundBox(run, eventLoop: run.loop)
    }

    var isAlive: Bool { alive.load(ordering: .acquiring) }

    /// Called on the loop when the stream finishes.
    func invalidate() {
        alive.store(false, ordering: .releasing)
        run.value = nil
    }

    /// Run `body` with the stream on its loop, after `delay`, if it is still alive.
    func post(after delay: TimeAmount, _ body: @escaping @Sendable (FilterChainRun, Int) -> Void) -> Bool {
        guard isAlive else { return false }
        let task: @Sendable () -> Void = { [self] in
            guard let run = self.run.value else { return }
            body(run, self.filterIndex)
        }
        if delay.nanoseconds <= 0 {
            loop.execute(task)
        } else {
            loop.scheduleTask(in: delay, task)
        }
        return true
    }
}
