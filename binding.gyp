{
  "targets": [
    {
      "target_name": "tvctl_kvm",
      "sources": [
        "native/kvm/addon.cc",
        "native/kvm/machine.cc",
        "native/kvm/uart.cc",
        "native/kvm/probe.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "cflags_cc!": ["-fno-exceptions"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
