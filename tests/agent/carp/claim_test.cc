#include "agent/carp/claim.h"

#include <gtest/gtest.h>

#include "agent/carp/timing.h"
#include "fakes/fake_clock.h"

namespace carplb::agent::carp {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

const Vhid V(7);
// advbase 0, advskew 20: the lab's fast timers, 3 x 78 ms.
const Duration FastQuiet = masterDownInterval(0, 20);
// advbase 1, advskew 0: 3 s.
const Duration SlowQuiet = masterDownInterval(1, 0);

TEST(ClaimVerdict, NotListeningNeverClaims) {
  testing::FakeClock clock;
  ListenHistory h;
  EXPECT_FALSE(h.listening());
  EXPECT_EQ(claimVerdict(h, V, FastQuiet, clock.now()), ClaimVerdict::NotListening);
  clock.advance(seconds(100));
  EXPECT_EQ(claimVerdict(h, V, FastQuiet, clock.now()), ClaimVerdict::NotListening);
}

TEST(ClaimVerdict, ClaimsOnlyAfterListeningForTheWholeQuietInterval) {
  testing::FakeClock clock;
  ListenHistory h;
  h.startListening(clock.now());
  const TimePoint t0 = clock.now();
  EXPECT_EQ(claimVerdict(h, V, FastQuiet, t0), ClaimVerdict::ListenedTooShort);
  EXPECT_EQ(claimVerdict(h, V, FastQuiet, t0 + FastQuiet - nanoseconds(1)), ClaimVerdict::ListenedTooShort);
  EXPECT_EQ(claimVerdict(h, V, FastQuiet, t0 + FastQuiet), ClaimVerdict::Claim);
  // The interval is the vhid's own: the same history is too short for advbase 1.
  EXPECT_EQ(claimVerdict(h, V, SlowQuiet, t0 + FastQuiet), ClaimVerdict::ListenedTooShort);
  EXPECT_EQ(claimVerdict(h, V, SlowQuiet, t0 + SlowQuiet), ClaimVerdict::Claim);
  // startListening while listening keeps the original start.
  h.startListening(t0 + seconds(5));
  EXPECT_EQ(h.listeningSince(), t0);
}

TEST(ClaimVerdict, AnAdvertHeardForThatVhidBlocksTheClaimForMaxOfQuietAndClaimMemory) {
  testing::FakeClock clock;
  ListenHistory h;
  const TimePoint t0 = clock.now();
  h.startListening(t0);
  const TimePoint heard = t0 + seconds(20);
  h.heard(V.value(), heard);
  h.heard(8, heard + seconds(30));  // another vhid number: irrelevant for V
  EXPECT_EQ(claimVerdict(h, V, FastQuiet, heard + milliseconds(1)), ClaimVerdict::HeardRecently);
  // Longer than this vhid's own master-down interval, but a foreign master with 1 s adverts
  // heard 5 s ago may well still be there.
  EXPECT_EQ(claimVerdict(h, V, FastQuiet, heard + seconds(5)), ClaimVerdict::HeardRecently);
  EXPECT_EQ(claimVerdict(h, V, FastQuiet, heard + ClaimMemory - nanoseconds(1)), ClaimVerdict::HeardRecently);
  EXPECT_EQ(claimVerdict(h, V, FastQuiet, heard + ClaimMemory), ClaimVerdict::Claim);
  // A quiet interval longer than ClaimMemory wins.
  const Duration longQuiet = masterDownInterval(5, 0);  // 15 s
  EXPECT_EQ(claimVerdict(h, V, longQuiet, heard + ClaimMemory), ClaimVerdict::HeardRecently);
  EXPECT_EQ(claimVerdict(h, V, longQuiet, heard + longQuiet), ClaimVerdict::Claim);
}

TEST(ClaimVerdict, LaterAdvertsExtendTheBlockAndOlderTimestampsNeverShortenIt) {
  testing::FakeClock clock;
  ListenHistory h;
  const TimePoint t0 = clock.now();
  h.startListening(t0);
  h.heard(V.value(), t0 + seconds(1));
  h.heard(V.value(), t0 + seconds(9));
  h.heard(V.value(), t0 + seconds(2));  // out of order: keeps the latest
  EXPECT_EQ(h.lastHeard(V.value()), t0 + seconds(9));
  EXPECT_EQ(claimVerdict(h, V, FastQuiet, t0 + seconds(11)), ClaimVerdict::HeardRecently);
  EXPECT_EQ(claimVerdict(h, V, FastQuiet, t0 + seconds(9) + ClaimMemory), ClaimVerdict::Claim);
}

TEST(ClaimVerdict, ABowOutReleasesTheVhid) {
  testing::FakeClock clock;
  ListenHistory h;
  const TimePoint t0 = clock.now();
  h.startListening(t0);
  h.heard(V.value(), t0 + seconds(10));
  h.heardBowOut(V.value());  // the master left (a deleted Service, a stopped node)
  EXPECT_FALSE(h.lastHeard(V.value()).has_value());
  EXPECT_EQ(claimVerdict(h, V, FastQuiet, t0 + seconds(10) + milliseconds(5)), ClaimVerdict::Claim);
  // Somebody speaks again after the bow-out: blocked again.
  h.heard(V.value(), t0 + seconds(11));
  EXPECT_EQ(claimVerdict(h, V, FastQuiet, t0 + seconds(11) + milliseconds(5)), ClaimVerdict::HeardRecently);
}

TEST(ClaimVerdict, StoppingToListenForgetsEverythingAndRestartsTheInterval) {
  testing::FakeClock clock;
  ListenHistory h;
  const TimePoint t0 = clock.now();
  h.startListening(t0);
  h.heard(V.value(), t0 + seconds(1));
  h.stopListening();  // link down: we may have missed adverts
  EXPECT_EQ(claimVerdict(h, V, FastQuiet, t0 + seconds(60)), ClaimVerdict::NotListening);
  h.heard(V.value(), t0 + seconds(61));  // not listening: not recorded
  EXPECT_FALSE(h.lastHeard(V.value()).has_value());
  h.startListening(t0 + seconds(62));
  EXPECT_EQ(claimVerdict(h, V, FastQuiet, t0 + seconds(62) + FastQuiet - nanoseconds(1)),
            ClaimVerdict::ListenedTooShort);
  EXPECT_EQ(claimVerdict(h, V, FastQuiet, t0 + seconds(62) + FastQuiet), ClaimVerdict::Claim);
}

TEST(ClaimVerdict, VhidZeroIsNeverRecordedAndEveryVerdictHasAName) {
  testing::FakeClock clock;
  ListenHistory h;
  h.startListening(clock.now());
  h.heard(0, clock.now());
  EXPECT_FALSE(h.lastHeard(0).has_value());
  h.heard(255, clock.now());
  EXPECT_TRUE(h.lastHeard(255).has_value());
  EXPECT_EQ(toString(ClaimVerdict::Claim), "claim");
  EXPECT_EQ(toString(ClaimVerdict::NotListening), "not_listening");
  EXPECT_EQ(toString(ClaimVerdict::ListenedTooShort), "listened_too_short");
  EXPECT_EQ(toString(ClaimVerdict::HeardRecently), "heard_recently");
}

}  // namespace
}  // namespace carplb::agent::carp
