import { describe, expect, it } from 'vitest';
import { byteSize } from './output.js';

describe('byteSize', () => {
  it('shows bytes, KiB or MiB, whichever keeps the figure readable', () => {
    expect(byteSize(0)).toBe('0 B');
    expect(byteSize(292)).toBe('292 B');
    expect(byteSize(1023)).toBe('1023 B');
    expect(byteSize(1024)).toBe('1.0 KiB');
    expect(byteSize(42_496)).toBe('41.5 KiB');
    expect(byteSize(1024 * 1024)).toBe('1.0 MiB');
    expect(byteSize(1_153_434)).toBe('1.1 MiB');
    expect(byteSize(1024 ** 3 - 1)).toBe('1024.0 MiB');
    expect(byteSize(56_156_967_731)).toBe('52.3 GiB');
  });
});
