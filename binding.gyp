{
  "targets": [
    {
      "target_name": "twampy_native",
      "sources": ["native/twampy_native.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [["OS!='linux'", {"type": "none"}]]
    }
  ]
}
