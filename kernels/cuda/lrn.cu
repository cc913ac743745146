// Local response normalization across channels, as in the AlexNet paper
// (the loader prepends common.cuh):
//
//     scale_c = k + alpha * sum_{|c'-c| <= half} x_{c'}^2
//     y_c = x_c * scale_c ** -beta
//     gx_c = gy_c * scale_c ** -beta - 2 * alpha * beta * x_c * sum_{|c'-c| <= half} gy_{c'} * y_{c'} / scale_{c'}
//
// ``scale`` is S above, on every backend. One thread per pixel (n, h, w) walks
// the channels with a sliding window sum: add the channel entering the window,
// drop the one leaving it, so the cost is O(C) whatever the size. The running
// sum is kept in double, so adding and dropping terms leaves no drift that
// float32 would accumulate over many channels.

template <typename T>
__global__ void lrn_forward(const T* __restrict__ x, T* __restrict__ y, T* __restrict__ scale,
                            int batch, int channels, index_t pixels, int half,
                            T alpha, T beta, T k)
{
    MINIDL_GRID_LOOP(index, (index_t)batch * pixels) {
        const index_t base = index / pixels * channels * pixels + index % pixels;
        double window = 0.0;
        for (int c = 0; c < half && c < channels; ++c) {
            const double v = (double)x[base + c * pixels];
            window += v * v;
        }
        for (int c = 0; c < channels; ++c) {
            if (c + half < channels) {
                const double v = (double)x[base + (c + half) * pixels];
                window += v * v;
            }
            if (c - half - 1 >= 0) {
                const double v = (double)x[base + (c - half - 1) * pixels];
                window -= v * v;
            }
            const index_t at = base + c * pixels;
            const T s = k + alpha * (T)window;
            scale[at] = s;
            y[at] = x[at] * pow_of(s, -beta);
        }
    }
}

// twice_alpha_beta = 2 * alpha * beta, rounded to T once on the host.
template <typename T>
__global__ void lrn_backward(const T* __restrict__ x, const T* __restrict__ y,
                             const T* __restrict__ scale, const T* __restrict__ gy, T* __restrict__ gx,
                             int batch, int channels, index_t pixels, int half,
                             T beta, T twice_alpha_beta)
{
    MINIDL_GRID_LOOP(index, (index_t)batch * pixels) {
        const index_t base = index / pixels * channels * pixels + index % pixels;
        double window = 0.0;
        for (int c = 0; c < half && c < channels; ++c) {
            const index_t at = base + c * pixels;
            window += (double)(gy[at] * y[at] / scale[at]);
        }
        for (int c = 0; c < channels; ++c) {
            if (c + half < channels) {
                const index_t at = base + (c + half) * pixels;
                window += (double)(gy[at] * y[at] / scale[at]);
            }
            if (c - half - 1 >= 0) {
                const index_t at = base + (c - half - 1) * pixels;
                window -= (double)(gy[at] * y[at] / scale[at]);
            }
            const index_t at = base + c * pixels;
            gx[at] = gy[at] * pow_of(scale[at], -beta) - twice_alpha_beta * x[at] * (T)window;
        }
    }
}
