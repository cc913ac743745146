// Shared by every minidl CUDA kernel. The loader (sources.py) puts this text in
// front of each .cu file before NVRTC sees it, so a change here changes the
// source text and therefore CuPy's compile-cache key (an #include would not).
//
// Every kernel is a template on the element type T and is instantiated for
// float and double through NVRTC name expressions ("im2col<float>").

// Flat indices are 64-bit: N*C*H*W of a large batch passes 2^31.
typedef long long index_t;

// A grid-stride loop over [0, count): correct for any grid size the launcher picks.
#define MINIDL_GRID_LOOP(i, count)                                        \
    for (index_t i = (index_t)blockIdx.x * blockDim.x + threadIdx.x;     \
         i < (count); i += (index_t)blockDim.x * gridDim.x)

// Math on T without relying on which overloads NVRTC's built-in headers declare.
__device__ inline float exp_of(float x) { return expf(x); }
__device__ inline double exp_of(double x) { return exp(x); }
__device__ inline float log_of(float x) { return logf(x); }
__device__ inline double log_of(double x) { return log(x); }
__device__ inline float pow_of(float x, float y) { return powf(x, y); }
__device__ inline double pow_of(double x, double y) { return pow(x, y); }

template <typename T> __device__ inline T negative_infinity();
template <> __device__ inline float negative_infinity<float>() { return __int_as_float(0xff800000); }
template <> __device__ inline double negative_infinity<double>() {
    return __longlong_as_double(0xfff0000000000000LL);
}

template <typename T> __device__ inline T quiet_nan();
template <> __device__ inline float quiet_nan<float>() { return __int_as_float(0x7fc00000); }
template <> __device__ inline double quiet_nan<double>() { return __longlong_as_double(0x7ff8000000000000LL); }
