// Max and average pooling over NCHW planes (the loader prepends common.cuh).
//
// Window (oy, ox) covers rows oy*sh - ph .. oy*sh - ph + kh - 1 and the same
// for columns; cells outside the image are absent for max pooling and zero
// for the average. The average divides by the window's cells inside the
// zero-padded input (padding counted, the ceil_mode overhang beyond it not).
// The argmax is the tap relative to the window, i*kw + j; a strictly-greater
// test keeps the first maximum in row-major order. A NaN wins over every
// number (as in PyTorch), so the output is NaN and the argmax the first NaN.
//
// Backward passes are gathers: one thread per input pixel visits the windows
// that cover it. They visit them in the order that makes each pixel add its
// contributions tap by tap (i, then j), as the reference does, so the sums
// round the same way.

// Output windows along one axis whose taps reach input coordinate p:
// o*stride - pad <= p <= o*stride - pad + kernel - 1, and 0 <= o < out.
__device__ inline int first_window(int p, int kernel, int stride, int pad)
{
    const int lowest = p + pad - kernel + 1;
    return lowest <= 0 ? 0 : (lowest + stride - 1) / stride;
}

__device__ inline int last_window(int p, int stride, int pad, int out)
{
    return min((p + pad) / stride, out - 1);
}

// Cells of window o along one axis inside the zero-padded input.
__device__ inline int window_cells(int o, int kernel, int stride, int pad, int size)
{
    const int start = o * stride - pad;
    return min(start + kernel, size + pad) - start;
}

template <typename T>
__global__ void max_pool2d_forward(const T* __restrict__ x, T* __restrict__ y, int* __restrict__ argmax,
                                   index_t planes, int height, int width, int out_h, int out_w,
                                   int kernel_h, int kernel_w, int stride_h, int stride_w,
                                   int pad_h, int pad_w)
{
    MINIDL_GRID_LOOP(index, planes * out_h * out_w) {
        const int ox = (int)(index % out_w);
        const int oy = (int)((index / out_w) % out_h);
        const T* image = x + index / ((index_t)out_h * out_w) * height * width;
        T best = negative_infinity<T>();
        int best_tap = 0;
        for (int i = 0; i < kernel_h; ++i) {
            const int row = oy * stride_h - pad_h + i;
            if (row < 0 || row >= height) {
                continue;
            }
            for (int j = 0; j < kernel_w; ++j) {
                const int col = ox * stride_w - pad_w + j;
                if (col < 0 || col >= width) {
                    continue;
                }
                const T value = image[(index_t)row * width + col];
                if (value > best || (value != value && best == best)) {
                    best = value;
                    best_tap = i * kernel_w + j;
                }
            }
        }
        y[index] = best;
        argmax[index] = best_tap;
    }
}

// One thread per input pixel: it sums gy of the windows whose argmax names it.
template <typename T>
__global__ void max_pool2d_backward(const T* __restrict__ gy, const int* __restrict__ argmax,
                                    T* __restrict__ gx,
                                    index_t planes, int height, int width, int out_h, int out_w,
                                    int kernel_h, int kernel_w, int stride_h, int stride_w,
                                    int pad_h, int pad_w)
{
    MINIDL_GRID_LOOP(index, planes * height * width) {
        const int px = (int)(index % width);
        const int py = (int)((index / width) % height);
        const index_t window_base = index / ((index_t)height * width) * out_h * out_w;
        const int oy_first = first_window(py, kernel_h, stride_h, pad_h);
        const int ox_first = first_window(px, kernel_w, stride_w, pad_w);
        T sum = T(0);
        // Descending windows are ascending taps: i = py + ph - oy*sh.
        for (int oy = last_window(py, stride_h, pad_h, out_h); oy >= oy_first; --oy) {
            const int i = py + pad_h - oy * stride_h;
            for (int ox = last_window(px, stride_w, pad_w, out_w); ox >= ox_first; --ox) {
                const int j = px + pad_w - ox * stride_w;
                const index_t o = window_base + (index_t)oy * out_w + ox;
                if (argmax[o] == i * kernel_w + j) {
                    sum += gy[o];
                }
            }
        }
        gx[index] = sum;
    }
}

template <typename T>
__global__ void avg_pool2d_forward(const T* __restrict__ x, T* __restrict__ y,
                                   index_t planes, int height, int width, int out_h, int out_w,
                                   int kernel_h, int kernel_w, int stride_h, int stride_w,
                                   int pad_h, int pad_w)
{
    MINIDL_GRID_LOOP(index, planes * out_h * out_w) {
        const int ox = (int)(index % out_w);
        const int oy = (int)((index / out_w) % out_h);
        const T* image = x + index / ((index_t)out_h * out_w) * height * width;
        T sum = T(0);
        for (int i = 0; i < kernel_h; ++i) {
            const int row = oy * stride_h - pad_h + i;
            if (row < 0 || row >= height) {
                continue;
            }
            for (int j = 0; j < kernel_w; ++j) {
                const int col = ox * stride_w - pad_w + j;
                if (col >= 0 && col < width) {
                    sum += image[(index_t)row * width + col];
                }
            }
        }
        const int cells = window_cells(oy, kernel_h, stride_h, pad_h, height)
                        * window_cells(ox, kernel_w, stride_w, pad_w, width);
        y[index] = sum / T(cells);
    }
}

// One thread per input pixel: it sums gy / cells of every window that covers it.
template <typename T>
__global__ void avg_pool2d_backward(const T* __restrict__ gy, T* __restrict__ gx,
                                    index_t planes, int height, int width, int out_h, int out_w,
                                    int kernel_h, int kernel_w, int stride_h, int stride_w,
                                    int pad_h, int pad_w)
{
    MINIDL_GRID_LOOP(index, planes * height * width) {
        const int px = (int)(index % width);
        const int py = (int)((index / width) % height);
        const index_t window_base = index / ((index_t)height * width) * out_h * out_w;
        const int oy_first = first_window(py, kernel_h, stride_h, pad_h);
        const int ox_first = first_window(px, kernel_w, stride_w, pad_w);
        T sum = T(0);
        for (int oy = last_window(py, stride_h, pad_h, out_h); oy >= oy_first; --oy) {
            const int rows = window_cells(oy, kernel_h, stride_h, pad_h, height);
            for (int ox = last_window(px, stride_w, pad_w, out_w); ox >= ox_first; --ox) {
                const int cells = rows * window_cells(ox, kernel_w, stride_w, pad_w, width);
                sum += gy[window_base + (index_t)oy * out_w + ox] / T(cells);
            }
        }
        gx[index] = sum;
    }
}

// Adaptive average pooling: window o of `out` along an axis of `size` cells covers
// floor(o*size/out) .. ceil((o+1)*size/out) - 1 (PyTorch's rule). 64-bit products:
// o*size overflows an int for large planes.
__device__ inline int adaptive_start(int o, int size, int out)
{
    return (int)(((long long)o * size) / out);
}

__device__ inline int adaptive_stop(int o, int size, int out)
{
    return (int)(((long long)(o + 1) * size + out - 1) / out);
}

template <typename T>
__global__ void adaptive_avg_pool2d_forward(const T* __restrict__ x, T* __restrict__ y,
                                            index_t planes, int height, int width, int out_h, int out_w)
{
    MINIDL_GRID_LOOP(index, planes * out_h * out_w) {
        const int ox = (int)(index % out_w);
        const int oy = (int)((index / out_w) % out_h);
        const T* image = x + index / ((index_t)out_h * out_w) * height * width;
        const int top = adaptive_start(oy, height, out_h), bottom = adaptive_stop(oy, height, out_h);
        const int left = adaptive_start(ox, width, out_w), right = adaptive_stop(ox, width, out_w);
        T sum = T(0);
        for (int row = top; row < bottom; ++row) {
            for (int col = left; col < right; ++col) {
                sum += image[(index_t)row * width + col];
            }
        }
        y[index] = sum / T((bottom - top) * (right - left));
    }
}

// One thread per input pixel; the windows covering row p are
// floor(p*out/size) .. ceil((p+1)*out/size) - 1, visited in row-major order as the
// reference adds them.
template <typename T>
__global__ void adaptive_avg_pool2d_backward(const T* __restrict__ gy, T* __restrict__ gx,
                                             index_t planes, int height, int width, int out_h, int out_w)
{
    MINIDL_GRID_LOOP(index, planes * height * width) {
        const int px = (int)(index % width);
        const int py = (int)((index / width) % height);
        const index_t window_base = index / ((index_t)height * width) * out_h * out_w;
        const int oy_first = (int)(((long long)py * out_h) / height);
        const int oy_last = (int)(((long long)(py + 1) * out_h + height - 1) / height) - 1;
        const int ox_first = (int)(((long long)px * out_w) / width);
        const int ox_last = (int)(((long long)(px + 1) * out_w + width - 1) / width) - 1;
        T sum = T(0);
        for (int oy = oy_first; oy <= oy_last; ++oy) {
            const int rows = adaptive_stop(oy, height, out_h) - adaptive_start(oy, height, out_h);
            for (int ox = ox_first; ox <= ox_last; ++ox) {
                const int cells = rows * (adaptive_stop(ox, width, out_w) - adaptive_start(ox, width, out_w));
                sum += gy[window_base + (index_t)oy * out_w + ox] / T(cells);
            }
        }
        gx[index] = sum;
    }
}
