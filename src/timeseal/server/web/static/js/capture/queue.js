// The chunks of one recording waiting to be sent, in order.
//
// While the network keeps up, the queue holds one chunk or none, in memory. Once chunks back
// up (an outage: MediaRecorder still hands over one every 2 s), every unsent chunk is written
// to a store (IndexedDB on the page, see spill.js), and memory keeps copies of at most
// `memoryLimit` of them: an hour without signal costs disk, not the tab, and a tab closed
// during the outage leaves every unsent chunk on the device, with no gap, for the next capture
// page to send (recorder.js, sendLeftovers). Chunks are numbered as the server numbers them
// and taken strictly by number, wherever each is kept: the drain after the outage sends them
// in the order they were recorded.
//
// Pure logic: the store is passed in (put/get/delete by chunk number, all async).

/** Chunks kept in memory at most: ~4 MB at the recorder's bit rates (a 2-second chunk is
 * ~1 MB), 32 MiB at the server's 8 MiB limit a chunk. */
export const MEMORY_CHUNKS = 4;

export class ChunkQueue {
  /**
   * store: { put(index, blob), get(index), delete(index) } or null (memory only).
   * firstIndex: the number of the first chunk pushed (the server's next_index).
   */
  constructor({ store = null, firstIndex = 0, memoryLimit = MEMORY_CHUNKS } = {}) {
    this.store = store;
    this.memoryLimit = memoryLimit;
    this.head = firstIndex; // the number of the oldest chunk not yet sent
    this.next = firstIndex; // the number the next pushed chunk gets
    // number -> { blob: in memory or null, saving: the store's put or null, saved: bool }
    this.items = new Map();
    this.memoryCount = 0;
    this.savedCount = 0;
    this.storeFailed = false; // the store refused a chunk: it was kept in memory instead
  }

  get length() {
    return this.next - this.head;
  }

  /** Chunks held in memory. */
  get inMemory() {
    return this.memoryCount;
  }

  /** Chunks written to the store (on the device's disk). */
  get spilled() {
    return this.savedCount;
  }

  /** Adds the next chunk; returns its number once the chunk is kept. */
  async push(blob) {
    const index = this.next;
    const backlog = this.length > 0;
    this.next += 1;
    const item = { blob: null, saving: null, saved: false };
    this.items.set(index, item);
    if (this.store === null || (!backlog && this.memoryCount < this.memoryLimit)) {
      this._remember(item, blob);
      return index;
    }
    // Chunks are backing up: from now on every unsent chunk goes to the store.
    for (const [older, waiting] of this.items) {
      if (older !== index && waiting.blob !== null && waiting.saving === null) {
        this._save(older, waiting, waiting.blob);
      }
    }
    if (this.memoryCount < this.memoryLimit) {
      this._remember(item, blob);
    }
    await this._save(index, item, blob);
    return index;
  }

  _remember(item, blob) {
    item.blob = blob;
    this.memoryCount += 1;
  }

  _save(index, item, blob) {
    item.saving = this.store.put(index, blob).then(
      () => {
        item.saved = true;
        this.savedCount += 1;
      },
      () => {
        // No room on the device (quota) or no IndexedDB: memory is the last place left;
        // losing a chunk of evidence would be worse than a heavy tab.
        this.storeFailed = true;
        if (item.blob === null && this.items.get(index) === item) {
          this._remember(item, blob);
        }
      },
    );
    return item.saving;
  }

  /** The oldest unsent chunk and its number, or null when the queue is empty. */
  async peek() {
    if (this.length === 0) {
      return null;
    }
    const index = this.head;
    const item = this.items.get(index);
    if (item.blob === null) {
      await item.saving;
    }
    const blob = item.blob !== null ? item.blob : await this.store.get(index);
    if (blob === undefined || blob === null) {
      throw new Error("chunk " + index + " is missing from this device's storage");
    }
    return { index: index, blob: blob };
  }

  /** Forgets the oldest chunk (the server has it), in memory and in the store. */
  async shift() {
    if (this.length === 0) {
      throw new Error("the queue is empty");
    }
    const index = this.head;
    const item = this.items.get(index);
    this.items.delete(index);
    this.head += 1;
    if (item.blob !== null) {
      item.blob = null;
      this.memoryCount -= 1;
    }
    if (item.saving !== null) {
      await item.saving; // a put still under way must not land after the delete
      if (item.saved) {
        this.savedCount -= 1;
        await this.store.delete(index);
      }
    }
  }
}
