// Batch normalization over x viewed as (N, C, L), statistics per channel C
// (the loader prepends common.cuh).
//
//     y = gamma * (x - mean) / sqrt(var + eps) + beta          (biased var)
//     gx = gamma / sqrt(var + eps) / m * (m * gy - sum(gy) - xhat * sum(gy * xhat)),  m = N * L
//
// Each pass is a per-channel reduction followed by an elementwise kernel:
//   forward:  partial_stats (grid C x S) -> finalize_stats (one thread per
//             channel) -> normalize
//   backward: partial_grads (grid C x S) -> finalize_grads -> backward_input
// Reductions accumulate in double, and the statistics use Welford's update
// within a thread and Chan's merge across threads and blocks, so a channel
// whose mean is large against its spread keeps its variance. The S partial
// results of a channel are merged in a fixed order by one thread: results are
// deterministic (no atomics). eps is added once, where the variance is used.
//
// Blocks are 256 threads shaped (bx, by): threadIdx.x walks L, threadIdx.y
// walks the batch, so a warp reads contiguous memory when L >= 32.

#define BN_THREADS 256

// Merge (count_b, mean_b, m2_b) into (count, mean, m2) (Chan et al.).
__device__ inline void welford_merge(double& count, double& mean, double& m2,
                                     double count_b, double mean_b, double m2_b)
{
    if (count_b == 0.0) {
        return;
    }
    const double total = count + count_b;
    const double delta = mean_b - mean;
    mean += delta * (count_b / total);
    m2 += m2_b + delta * delta * (count * count_b / total);
    count = total;
}

// Block (c, s) reduces the images s, s + S, ... of channel c to (count, mean, M2),
// written to partial[(c * S + s) * 3 + 0..2].
template <typename T>
__global__ void batch_norm_partial_stats(const T* __restrict__ x, double* __restrict__ partial,
                                         int batch, int channels, int length)
{
    __shared__ double counts[BN_THREADS];
    __shared__ double means[BN_THREADS];
    __shared__ double m2s[BN_THREADS];
    const int c = blockIdx.x;
    const int thread = threadIdx.y * blockDim.x + threadIdx.x;
    double count = 0.0, mean = 0.0, m2 = 0.0;
    for (int n = blockIdx.y * blockDim.y + threadIdx.y; n < batch; n += gridDim.y * blockDim.y) {
        const T* row = x + ((index_t)n * channels + c) * length;
        for (int l = threadIdx.x; l < length; l += blockDim.x) {
            const double value = (double)row[l];
            count += 1.0;
            const double delta = value - mean;
            mean += delta / count;
            m2 += delta * (value - mean);
        }
    }
    counts[thread] = count;
    means[thread] = mean;
    m2s[thread] = m2;
    __syncthreads();
    for (int half = BN_THREADS / 2; half > 0; half /= 2) {
        if (thread < half) {
            welford_merge(counts[thread], means[thread], m2s[thread],
                          counts[thread + half], means[thread + half], m2s[thread + half]);
        }
        __syncthreads();
    }
    if (thread == 0) {
        double* out = partial + ((index_t)c * gridDim.y + blockIdx.y) * 3;
        out[0] = counts[0];
        out[1] = means[0];
        out[2] = m2s[0];
    }
}

// One thread per channel: merge its S partials in order; write mean and biased var
// (as T) and the normalization's scale gamma / sqrt(var + eps).
template <typename T>
__global__ void batch_norm_finalize_stats(const double* __restrict__ partial, const T* __restrict__ gamma,
                                          T* __restrict__ mean_out, T* __restrict__ var_out,
                                          T* __restrict__ scale_out, int channels, int splits, double eps)
{
    MINIDL_GRID_LOOP(c, channels) {
        double count = 0.0, mean = 0.0, m2 = 0.0;
        for (int s = 0; s < splits; ++s) {
            const double* p = partial + (c * splits + s) * 3;
            welford_merge(count, mean, m2, p[0], p[1], p[2]);
        }
        const double var = m2 / count;
        mean_out[c] = (T)mean;
        var_out[c] = (T)var;
        scale_out[c] = (T)((double)gamma[c] / sqrt(var + eps));
    }
}

// y = (x - mean) * scale + beta over the rows (n, c) of length L.
template <typename T>
__global__ void batch_norm_normalize(const T* __restrict__ x, const T* __restrict__ mean,
                                     const T* __restrict__ scale, const T* __restrict__ beta,
                                     T* __restrict__ y, int batch, int channels, int length)
{
    const index_t rows = (index_t)batch * channels;
    for (index_t r = (index_t)blockIdx.y * blockDim.y + threadIdx.y; r < rows;
         r += (index_t)gridDim.y * blockDim.y) {
        const int c = (int)(r % channels);
        const T m = mean[c], s = scale[c], b = beta[c];
        const index_t base = r * length;
        for (int l = blockIdx.x * blockDim.x + threadIdx.x; l < length; l += gridDim.x * blockDim.x) {
            y[base + l] = (x[base + l] - m) * s + b;
        }
    }
}

// Block (c, s) sums gy and gy * (x - mean) over its images of channel c,
// written to partial[(c * S + s) * 2 + 0..1].
template <typename T>
__global__ void batch_norm_partial_grads(const T* __restrict__ gy, const T* __restrict__ x,
                                         const T* __restrict__ mean, double* __restrict__ partial,
                                         int batch, int channels, int length)
{
    __shared__ double sum_gy[BN_THREADS];
    __shared__ double sum_gy_xc[BN_THREADS];
    const int c = blockIdx.x;
    const int thread = threadIdx.y * blockDim.x + threadIdx.x;
    const double m = (double)mean[c];
    double a = 0.0, b = 0.0;
    for (int n = blockIdx.y * blockDim.y + threadIdx.y; n < batch; n += gridDim.y * blockDim.y) {
        const index_t base = ((index_t)n * channels + c) * length;
        for (int l = threadIdx.x; l < length; l += blockDim.x) {
            const double g = (double)gy[base + l];
            a += g;
            b += g * ((double)x[base + l] - m);
        }
    }
    sum_gy[thread] = a;
    sum_gy_xc[thread] = b;
    __syncthreads();
    for (int half = BN_THREADS / 2; half > 0; half /= 2) {
        if (thread < half) {
            sum_gy[thread] += sum_gy[thread + half];
            sum_gy_xc[thread] += sum_gy_xc[thread + half];
        }
        __syncthreads();
    }
    if (thread == 0) {
        double* out = partial + ((index_t)c * gridDim.y + blockIdx.y) * 2;
        out[0] = sum_gy[0];
        out[1] = sum_gy_xc[0];
    }
}

// One thread per channel: gbeta = sum(gy), ggamma = sum(gy * xhat), and the
// coefficients of gx = a * (gy - b - (x - mean) * k), stored as coeffs[0..2][c]:
// a = gamma * invstd, b = gbeta / m, k = invstd * ggamma / m.
template <typename T>
__global__ void batch_norm_finalize_grads(const double* __restrict__ partial, const T* __restrict__ gamma,
                                          const T* __restrict__ var, T* __restrict__ ggamma,
                                          T* __restrict__ gbeta, T* __restrict__ coeffs,
                                          int channels, int splits, double count, double eps)
{
    MINIDL_GRID_LOOP(c, channels) {
        double sum_gy = 0.0, sum_gy_xc = 0.0;
        for (int s = 0; s < splits; ++s) {
            sum_gy += partial[(c * splits + s) * 2];
            sum_gy_xc += partial[(c * splits + s) * 2 + 1];
        }
        const double invstd = 1.0 / sqrt((double)var[c] + eps);
        const double gamma_grad = sum_gy_xc * invstd;
        ggamma[c] = (T)gamma_grad;
        gbeta[c] = (T)sum_gy;
        coeffs[c] = (T)((double)gamma[c] * invstd);
        coeffs[channels + c] = (T)(sum_gy / count);
        coeffs[2 * channels + c] = (T)(invstd * gamma_grad / count);
    }
}

template <typename T>
__global__ void batch_norm_backward_input(const T* __restrict__ gy, const T* __restrict__ x,
                                          const T* __restrict__ mean, const T* __restrict__ coeffs,
                                          T* __restrict__ gx, int batch, int channels, int length)
{
    const index_t rows = (index_t)batch * channels;
    for (index_t r = (index_t)blockIdx.y * blockDim.y + threadIdx.y; r < rows;
         r += (index_t)gridDim.y * blockDim.y) {
        const int c = (int)(r % channels);
        const T m = mean[c], a = coeffs[c], b = coeffs[channels + c], k = coeffs[2 * channels + c];
        const index_t base = r * length;
        for (int l = blockIdx.x * blockDim.x + threadIdx.x; l < length; l += gridDim.x * blockDim.x) {
            gx[base + l] = a * (gy[base + l] - b - (x[base + l] - m) * k);
        }
    }
}
