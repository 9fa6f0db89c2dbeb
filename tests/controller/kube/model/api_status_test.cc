#include "controller/kube/model/api_status.h"

#include <gtest/gtest.h>

namespace carplb::controller::kube {
namespace {

TEST(ApiStatus, Classification) {
  EXPECT_EQ(classifyHttpStatus(200), ApiErrorKind::None);
  EXPECT_EQ(classifyHttpStatus(201), ApiErrorKind::None);
  EXPECT_EQ(classifyHttpStatus(401), ApiErrorKind::Unauthorized);
  EXPECT_EQ(classifyHttpStatus(404), ApiErrorKind::NotFound);
  EXPECT_EQ(classifyHttpStatus(409), ApiErrorKind::Conflict);
  EXPECT_EQ(classifyHttpStatus(410), ApiErrorKind::Gone);
  EXPECT_EQ(classifyHttpStatus(422), ApiErrorKind::Invalid);
  EXPECT_EQ(classifyHttpStatus(429), ApiErrorKind::TooManyRequests);
  EXPECT_EQ(classifyHttpStatus(503), ApiErrorKind::ServerError);
  EXPECT_EQ(classifyHttpStatus(302), ApiErrorKind::Other);
  EXPECT_TRUE(isRetryable(ApiErrorKind::ServerError));
  EXPECT_TRUE(isRetryable(ApiErrorKind::TooManyRequests));
  EXPECT_FALSE(isRetryable(ApiErrorKind::Conflict));
  EXPECT_EQ(toString(ApiErrorKind::Gone), "Gone");
}

TEST(ApiStatus, ParsesStatusBody) {
  auto s = parseApiStatusText(R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
    "message":"too many requests","reason":"TooManyRequests","details":{"retryAfterSeconds":3},"code":429})");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->code, 429);
  EXPECT_EQ(s->reason, "TooManyRequests");
  EXPECT_EQ(s->retryAfterSeconds, std::optional<int64_t>(3));
  EXPECT_FALSE(parseApiStatusText("<html>").has_value());
  EXPECT_FALSE(parseApiStatusText(R"({"kind":"Service"})").has_value());
  auto weird = parseApiStatusText(R"({"kind":"Status","code":"x","details":7})");
  ASSERT_TRUE(weird.has_value());
  EXPECT_EQ(weird->code, 0);
}

}  // namespace
}  // namespace carplb::controller::kube
