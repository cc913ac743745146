// Deformable im2col and its adjoints (the loader prepends common.cuh).
//
// Layouts and formulas are those of kernels/reference/deform_conv.py. With
// K = kh*kw taps (k = i*kw + j) and G offset groups of C/G channels:
//     offset (N, 2*G*K, oh, ow): dy at channel (g*K + k)*2, dx right after it
//     mask   (N, G*K, oh, ow), read only when modulated != 0 (else all ones)
//     cols[(c, k), (n, oy, ox)] = m * S(x[n, c], py, px),
//     py = oy*sh - ph + i*dh + dy,  px = ox*sw - pw + j*dw + dx,
// S bilinear, reading zero outside the image.
//
// The input gradient (deform_col2im) cannot be a gather as conv.cu's col2im
// is: which pixels a column entry reaches depends on the offsets, which are
// data, so a thread per input pixel could not know which entries read it
// without scanning them all. It is a scatter instead: one thread per column
// entry adds into its four corners with atomicAdd. Floating-point atomics
// make the order of those sums, and so the last bits of gx, vary from run to
// run; the CPU kernel keeps one order (kernels/cpu/deform_conv.py). The
// offset and mask gradients are gathers, one thread per (n, g, k, pixel)
// summing over its group's channels in order: deterministic.

__device__ inline float floor_of(float v) { return floorf(v); }
__device__ inline double floor_of(double v) { return floor(v); }

// Where tap k of output pixel (oy, ox) samples, for image n and offset group g.
template <typename T>
struct Sample {
    int y0, x0;  // floor(py), floor(px)
    T ly, lx;    // py - y0, px - x0
    T m;         // the mask (1 when unmodulated)
};

template <typename T>
__device__ inline Sample<T> sample_at(const T* __restrict__ offset, const T* __restrict__ mask,
                                      int modulated, int n, int g, int k, int oy, int ox,
                                      int groups, int kernel_h, int kernel_w,
                                      int stride_h, int stride_w, int pad_h, int pad_w,
                                      int dilation_h, int dilation_w, int out_h, int out_w)
{
    const int taps = kernel_h * kernel_w;
    const index_t pixels = (index_t)out_h * out_w;
    const index_t pixel = (index_t)oy * out_w + ox;
    const index_t dy_at = (((index_t)n * groups + g) * taps + k) * 2 * pixels + pixel;
    const T py = (T)(oy * stride_h - pad_h + (k / kernel_w) * dilation_h) + offset[dy_at];
    const T px = (T)(ox * stride_w - pad_w + (k % kernel_w) * dilation_w) + offset[dy_at + pixels];
    Sample<T> s;
    const T fy = floor_of(py), fx = floor_of(px);
    s.y0 = (int)fy;
    s.x0 = (int)fx;
    s.ly = py - fy;
    s.lx = px - fx;
    s.m = modulated ? mask[(((index_t)n * groups + g) * taps + k) * pixels + pixel] : T(1);
    return s;
}

// x[y, x_] of one image plane, zero outside it.
template <typename T>
__device__ inline T pixel_or_zero(const T* __restrict__ plane, int y, int x_, int height, int width)
{
    return (y >= 0 && y < height && x_ >= 0 && x_ < width) ? plane[(index_t)y * width + x_] : T(0);
}

// One thread per (channel, image, output pixel): it writes the K taps of that
// pixel, one row of cols each, so neighbouring threads write neighbouring columns.
template <typename T>
__global__ void deform_im2col(const T* __restrict__ x, const T* __restrict__ offset,
                              const T* __restrict__ mask, T* __restrict__ cols, int modulated,
                              int batch, int channels, int height, int width, int groups,
                              int kernel_h, int kernel_w, int stride_h, int stride_w,
                              int pad_h, int pad_w, int dilation_h, int dilation_w,
                              int out_h, int out_w)
{
    const index_t columns = (index_t)batch * out_h * out_w;
    const int taps = kernel_h * kernel_w;
    MINIDL_GRID_LOOP(index, (index_t)channels * columns) {
        const int c = (int)(index / columns);
        const index_t column = index - (index_t)c * columns;
        const int ox = (int)(column % out_w);
        const int oy = (int)((column / out_w) % out_h);
        const int n = (int)(column / ((index_t)out_w * out_h));
        const int g = c / (channels / groups);
        const T* plane = x + ((index_t)n * channels + c) * height * width;
        T* out = cols + (index_t)c * taps * columns + column;
        for (int k = 0; k < taps; ++k) {
            const Sample<T> s = sample_at(offset, mask, modulated, n, g, k, oy, ox, groups,
                                          kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                                          dilation_h, dilation_w, out_h, out_w);
            const T top = (T(1) - s.lx) * pixel_or_zero(plane, s.y0, s.x0, height, width)
                        + s.lx * pixel_or_zero(plane, s.y0, s.x0 + 1, height, width);
            const T bottom = (T(1) - s.lx) * pixel_or_zero(plane, s.y0 + 1, s.x0, height, width)
                           + s.lx * pixel_or_zero(plane, s.y0 + 1, s.x0 + 1, height, width);
            *out = s.m * ((T(1) - s.ly) * top + s.ly * bottom);
            out += columns;
        }
    }
}

// One thread per column entry (c, k, n, oy, ox): it adds the entry, times the
// mask and each corner's bilinear weight, into the corners inside the image.
// gx must be zero on entry. atomicAdd on double needs sm_60 or newer.
template <typename T>
__global__ void deform_col2im(const T* __restrict__ cols, const T* __restrict__ offset,
                              const T* __restrict__ mask, T* __restrict__ gx, int modulated,
                              int batch, int channels, int height, int width, int groups,
                              int kernel_h, int kernel_w, int stride_h, int stride_w,
                              int pad_h, int pad_w, int dilation_h, int dilation_w,
                              int out_h, int out_w)
{
    const index_t columns = (index_t)batch * out_h * out_w;
    const int taps = kernel_h * kernel_w;
    MINIDL_GRID_LOOP(index, (index_t)channels * taps * columns) {
        const index_t row = index / columns;  // c * taps + k
        const index_t column = index - row * columns;
        const int c = (int)(row / taps), k = (int)(row % taps);
        const int ox = (int)(column % out_w);
        const int oy = (int)((column / out_w) % out_h);
        const int n = (int)(column / ((index_t)out_w * out_h));
        const int g = c / (channels / groups);
        const Sample<T> s = sample_at(offset, mask, modulated, n, g, k, oy, ox, groups,
                                      kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                                      dilation_h, dilation_w, out_h, out_w);
        const T grad = s.m * cols[index];
        T* plane = gx + ((index_t)n * channels + c) * height * width;
        for (int a = 0; a < 2; ++a) {
            const int y = s.y0 + a;
            const T wy = a ? s.ly : T(1) - s.ly;
            for (int b = 0; b < 2; ++b) {
                const int x_ = s.x0 + b;
                const T wx = b ? s.lx : T(1) - s.lx;
                if (y >= 0 && y < height && x_ >= 0 && x_ < width) {
                    atomicAdd(plane + (index_t)y * width + x_, wy * wx * grad);
                }
            }
        }
    }
}

// One thread per (n, g, k, oy, ox): the offset gradient (dy, dx) and the mask
// gradient of that tap, summed over the group's channels in channel order.
template <typename T>
__global__ void deform_col2im_coord(const T* __restrict__ cols, const T* __restrict__ x,
                                    const T* __restrict__ offset, const T* __restrict__ mask,
                                    T* __restrict__ g_offset, T* __restrict__ g_mask, int modulated,
                                    int batch, int channels, int height, int width, int groups,
                                    int kernel_h, int kernel_w, int stride_h, int stride_w,
                                    int pad_h, int pad_w, int dilation_h, int dilation_w,
                                    int out_h, int out_w)
{
    const index_t pixels = (index_t)out_h * out_w;
    const index_t columns = (index_t)batch * pixels;
    const int taps = kernel_h * kernel_w;
    const int per_group = channels / groups;
    MINIDL_GRID_LOOP(index, (index_t)batch * groups * taps * pixels) {
        const index_t pixel = index % pixels;
        const int oy = (int)(pixel / out_w), ox = (int)(pixel % out_w);
        const index_t tap = index / pixels;  // (n * groups + g) * taps + k
        const int k = (int)(tap % taps);
        const int g = (int)((tap / taps) % groups);
        const int n = (int)(tap / ((index_t)taps * groups));
        const Sample<T> s = sample_at(offset, mask, modulated, n, g, k, oy, ox, groups,
                                      kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                                      dilation_h, dilation_w, out_h, out_w);
        T d_py = T(0), d_px = T(0), d_m = T(0);
        for (int c = g * per_group; c < (g + 1) * per_group; ++c) {
            const T* plane = x + ((index_t)n * channels + c) * height * width;
            const T grad = cols[((index_t)c * taps + k) * columns + (index_t)n * pixels + pixel];
            const T v00 = pixel_or_zero(plane, s.y0, s.x0, height, width);
            const T v01 = pixel_or_zero(plane, s.y0, s.x0 + 1, height, width);
            const T v10 = pixel_or_zero(plane, s.y0 + 1, s.x0, height, width);
            const T v11 = pixel_or_zero(plane, s.y0 + 1, s.x0 + 1, height, width);
            d_py += grad * ((T(1) - s.lx) * (v10 - v00) + s.lx * (v11 - v01));
            d_px += grad * ((T(1) - s.ly) * (v01 - v00) + s.ly * (v11 - v10));
            d_m += grad * ((T(1) - s.ly) * ((T(1) - s.lx) * v00 + s.lx * v01)
                           + s.ly * ((T(1) - s.lx) * v10 + s.lx * v11));
        }
        const index_t dy_at = (tap * 2) * pixels + pixel;
        g_offset[dy_at] = s.m * d_py;
        g_offset[dy_at + pixels] = s.m * d_px;
        if (modulated) {
            g_mask[tap * pixels + pixel] = d_m;
        }
    }
}
