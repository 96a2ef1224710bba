/**
 * What this replica last applied to each child of a pipeline, and the resourceVersion the server
 * answered with. A child whose cached object still carries that resourceVersion (nobody has written
 * it since) and whose desired manifest is the same needs no apply: each reconcile then sends only
 * the applies that can change something, instead of one server-side apply per child. Any other
 * write — a hand edit, the Deployment controller's status — changes the resourceVersion, and the
 * child is applied as before, so drift is still put back. Kept in memory: a new leader applies
 * everything once.
 */
export class AppliedChildren {
  private readonly byPipeline = new Map<string, Map<string, { manifest: string; resourceVersion: string }>>();

  /** True when `manifest` is what was last applied and the cache shows the object as the apply left it. */
  unchanged(pipeline: string, child: string, manifest: string, cachedVersion: string | undefined): boolean {
    const last = this.byPipeline.get(pipeline)?.get(child);
    return last !== undefined && cachedVersion !== undefined && last.resourceVersion === cachedVersion
      ? last.manifest === manifest
      : false;
  }

  record(pipeline: string, child: string, manifest: string, resourceVersion: string | undefined): void {
    let children = this.byPipeline.get(pipeline);
    if (!children) {
      children = new Map();
      this.byPipeline.set(pipeline, children);
    }
    if (resourceVersion === undefined) children.delete(child);
    else children.set(child, { manifest, resourceVersion });
  }

  forgetChild(pipeline: string, child: string): void {
    this.byPipeline.get(pipeline)?.delete(child);
  }

  forget(pipeline: string): void {
    this.byPipeline.delete(pipeline);
  }
}
