// libFuzzer target: arbitrary bytes into the Kubernetes model parsers and the watch-stream
// splitter/decoder. Nothing may crash, hang or leak (run with ASan+UBSan).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "controller/kube/model/api_status.h"
#include "controller/kube/model/backoff.h"
#include "controller/kube/model/kubeconfig.h"
#include "controller/kube/model/leader_election.h"
#include "controller/kube/model/resources.h"
#include "controller/kube/model/time_format.h"
#include "controller/kube/model/watch.h"

using namespace carplb::controller::kube;

namespace {

void parseAllKinds(const Json& j) {
  (void)parseService(j);
  (void)parseNode(j);
  (void)parseEndpointSlice(j);
  auto lease = parseLease(j);
  if (lease.ok()) {
    (void)withLeaseRecord(lease->raw, leaseRecordOf(*lease));
  }
  (void)parseEvent(j);
  (void)parseConfigMap(j);
  (void)parseSecret(j);
  (void)parseVirtualIP(j);
  (void)parseApiStatus(j);
  (void)resolveKubeconfig(j, "/base");
  (void)objectKey(j);
  (void)createMergePatch(j, Json::object());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) {
    return 0;
  }
  uint8_t mode = data[0];
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (mode % 4) {
    case 0: {
      // Watch stream: chunk sizes come from the mode byte so boundaries vary.
      LineSplitter splitter(4096);
      size_t step = 1 + (mode >> 2);
      for (size_t i = 0; i < text.size(); i += step) {
        auto lines = splitter.feed(text.substr(i, step));
        if (!lines.ok()) break;
        for (const auto& l : *lines) {
          auto ev = decodeWatchEvent(l);
          if (ev.ok()) {
            (void)ev->isExpired();
            parseAllKinds(ev->object);
          }
        }
      }
      break;
    }
    case 1: {
      auto j = parseJsonText(text, "fuzz");
      if (j.ok()) {
        parseAllKinds(*j);
        auto list = parseObjectList(Json(*j), "fuzz list");
        if (list.ok()) {
          for (const auto& item : list->items) parseAllKinds(item);
        }
      }
      break;
    }
    case 2:
      (void)parseObjectList(text, "fuzz list");
      (void)parseApiStatusText(text);
      break;
    default:
      (void)parseTime(text);
      (void)decodeBase64(text);
      (void)parseRetryAfter(text);
      {
        size_t colon = text.find(':');
        (void)inClusterServer(text.substr(0, colon), colon == std::string_view::npos ? "" : text.substr(colon + 1));
      }
      break;
  }
  return 0;
}
