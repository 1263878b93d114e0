// glibc's malloc_trim(0) for Node (issue 9). A member's bursts free tens of MiB of malloc'd memory
// (Buffers' backing stores, HTTP/2 and LevelDB buffers) in holes between chunks still in use; glibc
// gives back only the top of its heap on free, so the holes stayed resident. malloc_trim also
// returns the free pages in the middle. Node has no binding for it, hence this addon; it is built
// by scripts/build-native.mjs and is optional (src/util/malloc-trim.ts).
#include <malloc.h>
#include <node_api.h>

static napi_value Trim(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  napi_get_boolean(env, malloc_trim(0) == 1, &result);
  return result;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_value fn;
  if (napi_create_function(env, "trim", NAPI_AUTO_LENGTH, Trim, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "trim", fn) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
