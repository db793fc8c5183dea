#!/bin/sh
# prebuildify calls "<node-gyp> rebuild --target=<ver> --devdir=<dir> --release"; those flags
# mean something else to cmake-js (--target is a CMake target), so drop them and rebuild.
# Prebuilds are the CPU flavor: the CUDA flavor is built where nvcc is.
set -e
cd "$(dirname "$0")/.."
NTENSOR_CUDA=0 exec node node_modules/cmake-js/bin/cmake-js rebuild
