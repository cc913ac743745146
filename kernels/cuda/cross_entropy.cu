// Softmax cross-entropy on (N, K) logits (the loader prepends common.cuh):
//
//     log_prob = x - max(x) - log(sum(exp(x - max(x))))
//     loss_n = -log_prob[n, label_n]
//     glogits[n] = (exp(log_prob[n]) - onehot(label_n)) * gloss_n
//
// Forward gives each row to one warp: lanes stride over the K classes and
// combine the row's max and sum with warp shuffles.

#define WARP 32

template <typename T>
__device__ inline T warp_max(T value)
{
    for (int offset = WARP / 2; offset > 0; offset /= 2) {
        const T other = __shfl_xor_sync(0xffffffffu, value, offset);
        value = other > value ? other : value;
    }
    return value;
}

template <typename T>
__device__ inline T warp_sum(T value)
{
    for (int offset = WARP / 2; offset > 0; offset /= 2) {
        value += __shfl_xor_sync(0xffffffffu, value, offset);
    }
    return value;
}

// Launched with a multiple of 32 threads per block; every lane of a warp
// takes the same row, so the shuffles see the full warp.
template <typename T>
__global__ void softmax_cross_entropy_forward(const T* __restrict__ logits, const long long* __restrict__ labels,
                                              T* __restrict__ loss, T* __restrict__ log_prob,
                                              index_t rows, int classes)
{
    const int lane = threadIdx.x % WARP;
    const int warps_per_block = blockDim.x / WARP;
    for (index_t row = (index_t)blockIdx.x * warps_per_block + threadIdx.x / WARP; row < rows;
         row += (index_t)gridDim.x * warps_per_block) {
        const T* x = logits + row * classes;
        T* out = log_prob + row * classes;
        T top = negative_infinity<T>();
        for (int k = lane; k < classes; k += WARP) {
            top = x[k] > top ? x[k] : top;
        }
        top = warp_max(top);
        T total = T(0);
        for (int k = lane; k < classes; k += WARP) {
            total += exp_of(x[k] - top);
        }
        const T log_total = log_of(warp_sum(total));
        for (int k = lane; k < classes; k += WARP) {
            out[k] = (x[k] - top) - log_total;
        }
        if (lane == 0) {
            // The op checks labels; an out-of-range one gives NaN, never a stray read.
            const long long label = labels[row];
            loss[row] = label >= 0 && label < classes ? -((x[label] - top) - log_total) : quiet_nan<T>();
        }
    }
}

template <typename T>
__global__ void softmax_cross_entropy_backward(const T* __restrict__ log_prob, const long long* __restrict__ labels,
                                               const T* __restrict__ gloss, T* __restrict__ grad,
                                               index_t rows, int classes)
{
    MINIDL_GRID_LOOP(index, rows * classes) {
        const index_t row = index / classes;
        const int k = (int)(index - row * classes);
        T value = exp_of(log_prob[index]);
        if (k == labels[row]) {
            value -= T(1);
        }
        grad[index] = value * gloss[row];
    }
}
