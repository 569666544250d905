// The service worker: shows a Web Push message ({title, body, url}) as a notification and
// opens its link when tapped. It holds nothing; messages carry only the link, host and
// service.
'use strict';

self.addEventListener('push', (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (e) {
    data = {};
  }
  const title = typeof data.title === 'string' ? data.title : 'Sign-in request';
  const body = typeof data.body === 'string' ? data.body : '';
  const url = sameOrigin(data.url) ? data.url : '/';
  event.waitUntil(self.registration.showNotification(title, {
    body: body,
    data: { url: url },
    requireInteraction: true,
  }));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.url) || '/';
  event.waitUntil(self.clients.openWindow(url));
});

// Only links to this site are opened: a push message is not a way to send a user elsewhere.
function sameOrigin(url) {
  if (typeof url !== 'string') return false;
  try {
    return new URL(url, self.location.origin).origin === self.location.origin;
  } catch (e) {
    return false;
  }
}
