// The dropout mask from a counter-based hash (the loader prepends common.cuh).
//
// Element i is kept when the top 24 bits of
// splitmix64(seed + (i + 1) * 0x9E3779B97F4A7C15) are >= threshold = round(p * 2^24);
// kept elements hold scale = 1 / (1 - p), dropped ones 0. Unsigned 64-bit
// arithmetic wraps exactly as NumPy's uint64 does, so the mask equals the
// NumPy reference (kernels/reference/dropout.py) bit for bit.

__device__ inline unsigned long long splitmix64(unsigned long long z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

template <typename T>
__global__ void dropout_mask(T* __restrict__ mask, index_t size, unsigned long long seed,
                             unsigned long long threshold, T scale)
{
    MINIDL_GRID_LOOP(i, size) {
        const unsigned long long bits =
            splitmix64(seed + (unsigned long long)(i + 1) * 0x9E3779B97F4A7C15ULL) >> 40;
        mask[i] = bits >= threshold ? scale : T(0);
    }
}
