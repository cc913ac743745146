// im2col and col2im for convolution (the loader prepends common.cuh).
//
// cols has shape (C*kh*kw, N*oh*ow):
//     cols[(c, i, j), (n, oy, ox)] = x[n, c, oy*sh - ph + i*dh, ox*sw - pw + j*dw]
// with zero outside the image. col2im is its adjoint, written as a gather: one
// thread per input pixel sums every column entry that came from it, so there
// are no atomics and the sum order (tap i, then tap j) is fixed.

// One thread per (channel, output pixel): it writes the kh*kw taps of that
// pixel, one row of cols each, so neighbouring threads write neighbouring columns.
template <typename T>
__global__ void im2col(const T* __restrict__ x, T* __restrict__ cols,
                       int batch, int channels, int height, int width,
                       int kernel_h, int kernel_w, int stride_h, int stride_w,
                       int pad_h, int pad_w, int dilation_h, int dilation_w,
                       int out_h, int out_w)
{
    const index_t columns = (index_t)batch * out_h * out_w;
    MINIDL_GRID_LOOP(index, channels * columns) {
        const int c = (int)(index / columns);
        const int column = (int)(index - c * columns);
        const int ox = column % out_w;
        const int oy = (column / out_w) % out_h;
        const int n = column / (out_w * out_h);
        const T* image = x + ((index_t)n * channels + c) * height * width;
        T* out = cols + (index_t)c * kernel_h * kernel_w * columns + column;
        for (int i = 0; i < kernel_h; ++i) {
            const int y = oy * stride_h - pad_h + i * dilation_h;
            for (int j = 0; j < kernel_w; ++j) {
                const int x_ = ox * stride_w - pad_w + j * dilation_w;
                const bool inside = y >= 0 && y < height && x_ >= 0 && x_ < width;
                *out = inside ? image[(index_t)y * width + x_] : T(0);
                out += columns;
            }
        }
    }
}

// One thread per input pixel (n, c, y, x): tap (i, j) of output pixel (oy, ox)
// reads it when oy*sh + i*dh == y + ph and ox*sw + j*dw == x + pw.
template <typename T>
__global__ void col2im(const T* __restrict__ cols, T* __restrict__ x,
                       int batch, int channels, int height, int width,
                       int kernel_h, int kernel_w, int stride_h, int stride_w,
                       int pad_h, int pad_w, int dilation_h, int dilation_w,
                       int out_h, int out_w)
{
    const index_t columns = (index_t)batch * out_h * out_w;
    const index_t plane = (index_t)height * width;
    MINIDL_GRID_LOOP(index, (index_t)batch * channels * plane) {
        const int px = (int)(index % width);
        const int py = (int)((index / width) % height);
        const index_t n_c = index / plane;  // n * channels + c
        const int c = (int)(n_c % channels);
        const int n = (int)(n_c / channels);
        T sum = T(0);
        for (int i = 0; i < kernel_h; ++i) {
            const int top = py + pad_h - i * dilation_h;
            if (top < 0 || top % stride_h != 0 || top / stride_h >= out_h) {
                continue;
            }
            const int oy = top / stride_h;
            for (int j = 0; j < kernel_w; ++j) {
                const int left = px + pad_w - j * dilation_w;
                if (left < 0 || left % stride_w != 0 || left / stride_w >= out_w) {
                    continue;
                }
                const int ox = left / stride_w;
                const index_t row = ((index_t)c * kernel_h + i) * kernel_w + j;
                sum += cols[row * columns + ((index_t)n * out_h + oy) * out_w + ox];
            }
        }
        x[index] = sum;
    }
}
