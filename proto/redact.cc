#include "proto/redact.h"

#include <arpa/inet.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/reflection.h>

#include <set>

namespace carplb::proto {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

void redactInPlace(Message& msg) {
  const auto* desc = msg.GetDescriptor();
  const auto* refl = msg.GetReflection();
  for (int i = 0; i < desc->field_count(); ++i) {
    const FieldDescriptor* f = desc->field(i);
    if (f->options().GetExtension(v1::sensitive)) {
      if (f->is_repeated()) {
        if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
          for (int k = 0; k < refl->FieldSize(msg, f); ++k) {
            refl->SetRepeatedString(&msg, f, k, RedactedText);
          }
        } else {
          refl->ClearField(&msg, f);
        }
      } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
        if (!refl->GetString(msg, f).empty()) {
          refl->SetString(&msg, f, RedactedText);
        }
      } else {
        refl->ClearField(&msg, f);
      }
      continue;
    }
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
      continue;
    }
    if (f->is_repeated()) {
      for (int k = 0; k < refl->FieldSize(msg, f); ++k) {
        redactInPlace(*refl->MutableRepeatedMessage(&msg, f, k));
      }
    } else if (refl->HasField(msg, f)) {
      redactInPlace(*refl->MutableMessage(&msg, f));
    }
  }
}

bool isAddress(const std::string& text) {
  unsigned char buf[16];
  return inet_pton(AF_INET, text.c_str(), buf) == 1 || inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

}  // namespace

std::unique_ptr<Message> redactedCopy(const Message& msg) {
  std::unique_ptr<Message> copy(msg.New());
  copy->CopyFrom(msg);
  redactInPlace(*copy);
  return copy;
}

std::string redactedDebugString(const Message& msg) { return redactedCopy(msg)->ShortDebugString(); }

Status validateSnapshot(const v1::Snapshot& s) {
  if (s.controller_epoch().empty()) {
    return makeError("snapshot.controller_epoch: must not be empty");
  }
  if (s.generation() == 0) {
    return makeError("snapshot.generation: must be > 0");
  }
  std::set<uint32_t> seen;
  for (int i = 0; i < s.vhosts_size(); ++i) {
    const v1::Vhost& v = s.vhosts(i);
    const std::string p = "snapshot.vhosts[" + std::to_string(i) + "]";
    if (v.vhid() < 1 || v.vhid() > 255) {
      return makeError(p + ".vhid: must be between 1 and 255, got " + std::to_string(v.vhid()));
    }
    if (!seen.insert(v.vhid()).second) {
      return makeError(p + ".vhid: duplicate vhid " + std::to_string(v.vhid()));
    }
    if (v.interface().empty() || v.interface().size() > 15) {
      return makeError(p + ".interface: must be 1..15 characters, got " + std::to_string(v.interface().size()));
    }
    if (!v.srcip().empty() && !isAddress(v.srcip())) {
      return makeError(p + ".srcip: not an IP address: \"" + v.srcip() + "\"");
    }
    if (v.vips_size() == 0) {
      return makeError(p + ".vips: at least one VIP is required");
    }
    for (int k = 0; k < v.vips_size(); ++k) {
      if (!isAddress(v.vips(k))) {
        return makeError(p + ".vips[" + std::to_string(k) + "]: not an IP address: \"" + v.vips(k) + "\"");
      }
    }
    if (v.advbase() > 255) {
      return makeError(p + ".advbase: must be between 0 and 255, got " + std::to_string(v.advbase()));
    }
    if (v.advbase() == 0 && v.advskew() == 0) {
      // Sub-second operation is T = advskew/256 s: advbase 0 needs an advskew.
      return makeError(p + ".advskew: must be at least 1 when advbase is 0 (the advert interval would be 0)");
    }
    if (v.advskew() > 254) {
      return makeError(p + ".advskew: must be between 0 and 254, got " + std::to_string(v.advskew()));
    }
    if (v.auth_key().empty() || v.auth_key().size() > 19) {
      return makeError(p + ".auth_key: must be 1..19 bytes, got " + std::to_string(v.auth_key().size()));
    }
    for (char c : v.auth_key()) {
      if (c < 0x21 || c > 0x7e) {
        return makeError(p + ".auth_key: must be printable ASCII");
      }
    }
  }
  return okStatus();
}

}  // namespace carplb::proto
