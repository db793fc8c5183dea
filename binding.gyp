# node-gyp build of the CPU flavor, from the same source list as CMakeLists.txt
# (native/sources.js). The default install uses cmake-js; this is for node-gyp users:
#   npx node-gyp rebuild --nodedir=/usr    (offline: point at Node's own headers)
{
  "targets": [
    {
      "target_name": "ntensor",
      "sources": [
        "<!@(node native/sources.js addon)",
        "<!@(node native/sources.js cudaStub)"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "OTHER_CPLUSPLUSFLAGS": ["-O3"]
      },
      "msvs_settings": { "VCCLCompilerTool": { "ExceptionHandling": 1 } }
    }
  ]
}
